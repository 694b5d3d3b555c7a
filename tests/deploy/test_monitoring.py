"""The Grafana dashboard and the Prometheus rules only query metrics the hub really exposes."""

from __future__ import annotations

import json
import re

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
