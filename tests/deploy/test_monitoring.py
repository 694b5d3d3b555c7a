"""The Grafana dashboard and the Prometheus rules only query metrics the hub really exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml

from hub import metrics
from tests.services.mosquitto import ROOT

MONITORING = ROOT / "deploy" / "monitoring"
# Series names in PromQL: hub_… identifiers (functions and labels never start with "hub_").
_SERIES = re.compile(r"\bhub_[a-z_]+\b")


def _exposed() -> set[str]:
    names = set()
    for line in metrics.render().decode().splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names |= {name}
            if kind == "counter":
                names |= {f"{name}_total"}
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def _queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = yaml.safe_load((MONITORING / "eldercare-alerts.yml").read_text(encoding="utf-8"))
    exprs += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    return exprs


def test_every_queried_series_is_exposed_by_the_hub() -> None:
    exposed = _exposed()
    used = {name for expr in _queries() for name in _SERIES.findall(expr)}
    assert used, "the dashboard queries no hub metric"
    assert used <= exposed, f"not exposed by /metrics: {sorted(used - exposed)}"


def test_prometheus_scrapes_the_hub_metrics_path() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["eldercare-hub"]["metrics_path"] == "/metrics"
    assert "eldercare-alerts.yml" in config["rule_files"]


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "promtool"], check=True)
        found = shutil.which("promtool") or "/usr/bin/promtool"
    return found


def test_a_dead_hub_alerts_when_metrics_stop_answering() -> None:
    """The dead-man's switch: Prometheus alerts when /metrics fails (HubDown) or vanishes (HubMetricsAbsent),
    and on any failing self-check (HubUnhealthy); proven by promtool's rule unit tests."""
    run = subprocess.run(
        [_promtool(), "test", "rules", "eldercare-alerts.test.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    tested = yaml.safe_load((MONITORING / "eldercare-alerts.test.yml").read_text(encoding="utf-8"))
    names = {case["alertname"] for test in tested["tests"] for case in test["alert_rule_test"]}
    assert {"HubDown", "HubMetricsAbsent", "HubUnhealthy"} <= names
