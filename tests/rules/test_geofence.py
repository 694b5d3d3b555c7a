"""The safe zone (安全区域) on a frozen clock: outside at night, out far longer than usual, datum mismatch."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from hub.devices.model import Binding
from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.engine import HomeProfile, RulesEngine
from hub.rules.persistence import load_profiles
from hub.rules.settings import RulesConfig
from hub.rules.state import SafeZone
from tests.rules.helpers import T0, local
from tests.site_fixture import SITE_YAML, make_site

CENTRE = (29.60, 106.50)
INSIDE = (29.601, 106.50)  # about 110 m north of the centre
OUTSIDE = (29.618, 106.50)  # about 2 km north
WATCH = Binding("H1", "H1-watch", "watch", "8809008845", "4g_watch", {})


def engine_with_zone(datum: float = 0.0) -> RulesEngine:
    engine = RulesEngine(RulesConfig(), "Asia/Shanghai")
    zone = SafeZone(*CENTRE, radius_m=500, datum=datum)
    engine.set_register([WATCH], {"H1": HomeProfile("key", "双龙湖街道", safe_zone=zone)}, T0)
    return engine


def at(
    engine: RulesEngine, where: tuple[float, float], when: datetime, datum: float = 0.0
) -> list[AlertCandidate]:
    """One position report of the watch, as its decoder emits it."""
    out: list[AlertCandidate] = []
    for signal, value in (
        (Signal.GEO_DATUM, datum),
        (Signal.LATITUDE, where[0]),
        (Signal.LONGITUDE, where[1]),
    ):
        out += engine.observe(Reading("H1", "H1-watch", signal, value, when))
    return [c for c in out if c.kind.startswith("safe_zone")]


def test_outside_the_zone_at_night_raises_once_per_outing() -> None:
    engine = engine_with_zone()
    assert at(engine, INSIDE, local(2, 21, 0)) == []
    assert at(engine, OUTSIDE, local(2, 21, 30)) == []  # out in the evening: nothing yet
    raised = at(engine, OUTSIDE, local(2, 22, 5))
    assert [(c.kind, c.severity, c.check_first, c.alert_class) for c in raised] == [
        ("safe_zone_night", Severity.URGENT, True, "elder")
    ]
    assert "夜间 03-02 22:05" in raised[0].explanation and "自 03-02 21:30 离开" in raised[0].explanation
    assert "约 2002 米（半径 500 米）" in raised[0].explanation
    assert at(engine, OUTSIDE, local(2, 22, 15)) == []  # the same outing
    assert at(engine, INSIDE, local(2, 22, 40)) == []  # home again
    assert [c.kind for c in at(engine, OUTSIDE, local(3, 5, 30))] == ["safe_zone_night"]  # a new outing
    assert at(engine, (29.620, 106.5), local(3, 5, 40)) == []
    assert at(engine, INSIDE, local(3, 6, 0)) == []
    assert at(engine, OUTSIDE, local(3, 6, 30)) == []  # morning walk: not night


def test_out_far_longer_than_her_usual_outings_survives_a_restart() -> None:
    engine = engine_with_zone()
    for day in (2, 3, 4):  # her usual: an hour at the market
        assert at(engine, OUTSIDE, local(day, 9, 0)) == []
        assert at(engine, OUTSIDE, local(day, 9, 30)) == []
        assert at(engine, INSIDE, local(day, 10, 0)) == []
    assert at(engine, OUTSIDE, local(5, 9, 0)) == []
    # The hub restarts mid-outing: the snapshot carries the outing and her usual outings.
    snapshot = json.loads(json.dumps(engine.snapshot()))
    engine = engine_with_zone()
    engine.restore("H1", snapshot["H1"], local(5, 9, 10))
    assert at(engine, OUTSIDE, local(5, 10, 30)) == []  # 1.5 h: longer than usual, not far longer
    raised = at(engine, OUTSIDE, local(5, 11, 5))  # past 2 × her longest outing
    assert [(c.kind, c.severity, c.check_first) for c in raised] == [
        ("safe_zone_long", Severity.WARNING, True)
    ]
    assert "自 03-05 09:00 离开安全区域已 2.1 小时" in raised[0].explanation
    assert "近 3 次外出最长 1.0 小时" in raised[0].explanation
    assert at(engine, OUTSIDE, local(5, 12, 0)) == []


def test_before_her_outings_are_known_the_default_limit_applies() -> None:
    engine = engine_with_zone()
    assert at(engine, OUTSIDE, local(2, 8, 0)) == []
    assert at(engine, OUTSIDE, local(2, 11, 59)) == []
    raised = at(engine, OUTSIDE, local(2, 12, 0))
    assert [c.kind for c in raised] == ["safe_zone_long"] and "默认上限 4 小时" in raised[0].explanation


def test_a_zone_in_another_datum_is_a_finding_not_a_false_alarm() -> None:
    engine = engine_with_zone(datum=1.0)  # the zone was drawn on a GCJ-02 map, the watch reports GPS
    raised = at(engine, OUTSIDE, local(2, 23, 0), datum=0.0)
    assert [(c.kind, c.alert_class, c.subject) for c in raised] == [("safe_zone_datum", "device", "H1-watch")]
    assert "GCJ-02" in raised[0].explanation and "WGS-84" in raised[0].explanation
    assert at(engine, OUTSIDE, local(2, 23, 10), datum=0.0) == []  # told once
    # The same datum as the zone: compared, and she is out at night.
    assert [c.kind for c in at(engine, OUTSIDE, local(2, 23, 20), datum=1.0)] == ["safe_zone_night"]


def test_no_zone_no_alert() -> None:
    engine = RulesEngine(RulesConfig(), "Asia/Shanghai")
    engine.set_register([WATCH], {"H1": HomeProfile("key", "双龙湖街道")}, T0)
    assert at(engine, OUTSIDE, local(2, 23, 0)) == []
    assert at(engine, OUTSIDE, local(2, 23, 0) + timedelta(hours=9)) == []


def test_the_rules_read_the_zone_from_the_register(tmp_path: Path) -> None:
    site = SITE_YAML.replace(
        "        categories: [独居]\n",
        "        categories: [独居]\n        safe_zone: {lat: 29.6, lon: 106.5, radius_m: 800, datum: gcj02}\n",
        1,
    )
    sessions = make_site(tmp_path, site_yaml=site)
    with sessions() as session:
        profiles = load_profiles(session)
    assert profiles["H001"].safe_zone == SafeZone(29.6, 106.5, 800, 1.0)
    assert profiles["H002"].safe_zone is None
