"""Issue 11, the detector: what made people stop answering (bedtime quiet gaps, the end of an absence, dying
sensors read as an elder in trouble, a door read as an outing), the alert classes and "ask the elder first".

Homes are in Asia/Shanghai, readings carry UTC timestamps (as every bridge sends them).
"""

from __future__ import annotations

from hub.models import Severity, Signal
from hub.rules.calendar import Calendar
from hub.rules.state import Baseline
from tests.rules.helpers import kinds, local, make_engine, motion, reading, sweep_until

# Up at 06:40±15, 100 L of water a day, longest quiet spell 80 min, last sign 21:30±15.
REGULAR = Baseline(21, 400, 15, 100, 10, 80, 21 * 60 + 30, 15)


def test_info_notices_have_their_own_class_and_nobody_is_asked_first() -> None:
    engine = make_engine("key")
    engine.set_baseline("H1", REGULAR)
    motion(engine, local(2, 9))
    engine.observe(reading("H1", "door", Signal.CONTACT, 0.0, local(2, 9, 2)))
    engine.observe(reading("H1", "door", Signal.CONTACT, 1.0, local(2, 9, 3)))  # leaves
    raised = sweep_until(engine, local(3, 9, 30))
    notice = next(c for c in raised if c.kind == "away_overdue")
    assert notice.alert_class == "notice" and notice.severity is Severity.INFO and not notice.check_first
    # A day with 5 L of water instead of the usual 100 L: a hint for the visitor, not an elder alarm.
    engine = make_engine("key")
    engine.set_baseline("H1", REGULAR)
    engine.observe(reading("H1", "water", Signal.WATER_TOTAL, 100.0, local(2, 6)))
    engine.observe(reading("H1", "water", Signal.WATER_TOTAL, 105.0, local(2, 7)))
    for hour in range(8, 22):
        motion(engine, local(2, hour))
    raised = [c for c in (motion(engine, local(3, 6, 40))) if c.kind == "low_water_day"]
    assert [(c.alert_class, c.check_first) for c in raised] == [("notice", False)]


def test_only_alerts_that_are_not_immediate_ask_the_elder_first() -> None:
    engine = make_engine("key", codes=("H1", "H2"))
    motion(engine, local(2, 10), "H1")
    motion(engine, local(2, 22), "H2")
    raised = sweep_until(engine, local(3, 9, 1))
    assert [(c.home, c.kind, c.check_first) for c in raised] == [
        ("H1", "inactivity", True),
        ("H2", "morning_check", True),
    ]
    sos = engine.observe(reading("H1", "sos", Signal.SOS, 1.0, local(3, 10)))
    assert [(c.kind, c.check_first) for c in sos] == [("sos", False)]
    battery = engine.observe(reading("H1", "motion", Signal.BATTERY, 4.0, local(3, 10)))
    assert [(c.kind, c.check_first) for c in battery] == [("battery_low", False)]


def test_no_quiet_gap_the_moment_an_announced_absence_ends() -> None:
    engine = make_engine("key")
    engine.set_baseline("H1", REGULAR)
    motion(engine, local(2, 7))
    engine.observe(reading("H1", "water", Signal.WATER_TOTAL, 100.0, local(2, 18, 9)))
    engine.observe(reading("H1", "water", Signal.WATER_TOTAL, 103.0, local(2, 18, 10)))  # 用水 at 18:10
    # The visitor registers a stay with the daughter, from 18:30 until midnight.
    engine.set_calendar(
        Calendar([("H1", local(2, 18, 30).timestamp(), local(3, 0).timestamp())]), local(2, 18, 20)
    )
    raised = sweep_until(engine, local(3, 8))
    assert [c for c in raised if c.alert_class == "elder"] == []
    # The clock started again at the absence's end: nothing by the morning is the morning rules' business.
    raised = sweep_until(engine, local(3, 9, 1))
    assert kinds(raised) == ["routine_late"]  # 06:40 + 90 min, before the 09:00 morning check
