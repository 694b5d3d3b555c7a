"""Replay over weeks of generated traffic, and the `absence`, `mode` and `replay` commands as operators run them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from hub.models import AlertCandidate
from hub.rules.replay import load_site_register, replay_with_engine
from hub.sim.site import dump_site_yaml
from tests.rules.traffic import generate
from tests.test_cli import run_cli


async def test_three_weeks_of_traffic_catch_every_incident_without_false_alarms(tmp_path: Path) -> None:
    # The plain profile (the traffic before issue 11) that this test's expectations were set on; the hard one
    # is judged by bench/rules_quality.py.
    traffic = generate(homes=15, days=21, seed=7, profile="plain")
    assert {i.kind for i in traffic.incidents} == {"collapse_day", "collapse_night", "tap_open", "sos"}
    site = tmp_path / "site.yaml"
    site.write_text(dump_site_yaml(traffic.site), encoding="utf-8")
    alerts: list[AlertCandidate] = []
    end = traffic.start + timedelta(days=traffic.days)
    summary = await replay_with_engine(
        traffic.lines, load_site_register(site, tmp_path), tmp_path, emit=alerts.append, until=end
    )
    assert summary.readings > summary.lines > 100_000 and summary.undecodable == 0
    elder = [a for a in alerts if a.alert_class == "elder" and a.severity.value != "info" and not a.cancel]
    for incident in traffic.incidents:
        caught = [
            a
            for a in elder
            if a.home == incident.home and incident.at <= a.at <= incident.at + timedelta(hours=36)
        ]
        assert caught, f"missed {incident}"
    incident_homes = {i.home for i in traffic.incidents}
    false = [a for a in elder if a.home not in incident_homes]
    assert len(false) <= 2, [(a.home, a.kind, a.explanation) for a in false]
    fault_homes = {f.home for f in traffic.faults}
    assert not [a for a in elder if a.home in fault_homes and a.home not in incident_homes]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return path


def test_absence_and_mode_commands(tmp_path: Path) -> None:
    config = _config(tmp_path)
    traffic_site = tmp_path / "site.yaml"
    traffic_site.write_text(
        dump_site_yaml(generate(homes=2, days=1, seed=1, incidents=False).site), encoding="utf-8"
    )
    assert run_cli(config, "load", str(traffic_site)).returncode == 0
    added = run_cli(
        config,
        "absence",
        "add",
        "H001",
        "--start",
        "2026-03-01 08:00",
        "--end",
        "2026-03-05 18:00",
        "--reason",
        "住院",
    )
    assert added.returncode == 0, added.stderr
    assert "已登记离家 #1" in added.stdout
    listed = json.loads(run_cli(config, "absence", "list", "--json").stdout)
    assert [(a["home"], a["start"], a["reason"]) for a in listed] == [
        ("H001", "2026-03-01T00:00:00+00:00", "住院")
    ]
    bad = run_cli(
        config, "absence", "add", "H999", "--start", "2026-03-01 08:00", "--end", "2026-03-02 08:00"
    )
    assert bad.returncode == 1 and "unknown home 'H999'" in bad.stderr
    backwards = run_cli(
        config, "absence", "add", "H001", "--start", "2026-03-02 08:00", "--end", "2026-03-01 08:00"
    )
    assert backwards.returncode == 1 and "must be after start" in backwards.stderr
    assert run_cli(config, "absence", "remove", "1").returncode == 0
    assert json.loads(run_cli(config, "absence", "list", "--json").stdout) == []

    mode = run_cli(
        config,
        "mode",
        "set",
        "weather",
        "--street",
        "双龙湖街道",
        "--start",
        "2026-07-20 00:00",
        "--end",
        "2026-07-25 00:00",
        "--factor",
        "0.5",
        "--note",
        "高温红色预警",
    )
    assert mode.returncode == 0, mode.stderr
    assert "已启用极端天气模式 #1: 双龙湖街道" in mode.stdout
    festival = run_cli(
        config, "mode", "set", "festival", "--start", "2026-02-16 00:00", "--end", "2026-02-23 00:00"
    )
    assert festival.returncode == 0 and "全区" in festival.stdout
    modes = json.loads(run_cli(config, "mode", "list", "--json").stdout)
    assert [(m["kind"], m["scope"], m["street"], m["factor"]) for m in modes] == [
        ("festival", "district", "", 0.5),
        ("weather", "street", "双龙湖街道", 0.5),
    ]
    too_loose = run_cli(
        config,
        "mode",
        "set",
        "weather",
        "--start",
        "2026-07-20 00:00",
        "--end",
        "2026-07-21 00:00",
        "--factor",
        "2",
    )
    assert too_loose.returncode == 1 and "(0, 1]" in too_loose.stderr
    assert run_cli(config, "mode", "clear", "1").returncode == 0
    assert [m["id"] for m in json.loads(run_cli(config, "mode", "list", "--json").stdout)] == [2]


def test_replay_command_prints_alerts_and_is_the_same_at_any_speed(tmp_path: Path) -> None:
    traffic = generate(homes=4, days=3, seed=3, incidents=False)
    site = tmp_path / "site.yaml"
    site.write_text(dump_site_yaml(traffic.site), encoding="utf-8")
    # Two hours of one day, with an SOS press and its cancel in the middle.
    start = traffic.start + timedelta(days=1, hours=2)
    lines = [ln for ln in traffic.lines if start <= ln.ts < start + timedelta(hours=2)]
    sos_at = start + timedelta(minutes=30)
    records = [{"ts": ln.ts.isoformat(), "topic": ln.topic, "payload": ln.payload.decode()} for ln in lines]
    records.append(
        {"ts": sos_at.isoformat(), "topic": "zigbee2mqtt/h002_sos", "payload": '{"action":"emergency"}'}
    )
    records.sort(key=lambda r: r["ts"])
    recording = tmp_path / "recording.jsonl"
    recording.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    config = _config(tmp_path)
    fast = run_cli(config, "replay", str(recording), "--site", str(site))
    assert fast.returncode == 0, fast.stderr
    out = [json.loads(line) for line in fast.stdout.splitlines()]
    summary = out[-1]["summary"]
    assert summary["lines"] == len(records) and summary["undecodable"] == 0
    sos = [o for o in out[:-1] if o["kind"] == "sos"]
    assert [(o["home"], o["class"], o["severity"], o["raised_at"]) for o in sos] == [
        ("H002", "elder", "critical", sos_at.isoformat())
    ]
    assert all(set(o) >= {"home", "kind", "class", "raised_at", "explanation"} for o in out[:-1])
    # Paced at 7,200 simulated seconds per wall second the same two hours take about a second.
    paced = run_cli(config, "replay", str(recording), "--site", str(site), "--speed", "7200")
    assert paced.returncode == 0 and paced.stdout == fast.stdout
    # Nothing of it reached the hub's own register.
    listed = run_cli(config, "alerts", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_replay_names_a_bad_line(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(dump_site_yaml(generate(homes=1, days=1, seed=1, incidents=False).site), encoding="utf-8")
    recording = tmp_path / "bad.jsonl"
    recording.write_text(
        '{"ts": "2026-03-01T00:00:00+00:00", "topic": "x", "payload": "{}"}\n{"ts": 5}\n', encoding="utf-8"
    )
    result = run_cli(_config(tmp_path), "replay", str(recording), "--site", str(site))
    assert result.returncode == 1 and "bad.jsonl:2" in result.stderr
