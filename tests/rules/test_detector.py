"""Issue 11, the detector: what made people stop answering (bedtime quiet gaps, the end of an absence, dying
sensors read as an elder in trouble, a door read as an outing), the alert classes and "ask the elder first".

Homes are in Asia/Shanghai, readings carry UTC timestamps (as every bridge sends them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.models import Severity, Signal
from hub.rules.calendar import Calendar
from hub.rules.engine import RulesEngine
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


def _pir(engine: RulesEngine, at: datetime, battery: float) -> None:
    """A Zigbee2MQTT PIR message: occupancy on (a sign) with the battery it reports alongside."""
    motion(engine, at)
    engine.observe(reading("H1", "motion", Signal.BATTERY, battery, at))


def _door_checkins(engine: RulesEngine, start: datetime, end: datetime) -> None:
    """The door sensor's hourly check-in repeating "closed": the devices that still work go on reporting."""
    at = start
    while at < end:
        engine.observe(reading("H1", "door", Signal.CONTACT, 0.0, at))
        at += timedelta(hours=1)


def test_a_dying_motion_sensor_is_a_device_fault_not_an_elder_alert() -> None:
    engine = make_engine("key")
    engine.set_baseline("H1", REGULAR)
    raised = []
    total = 100.0
    engine.observe(reading("H1", "water", Signal.WATER_TOTAL, total, local(2, 6)))  # the meter's first total
    for hour in range(7, 22):
        _pir(engine, local(2, hour), 12.0 if hour >= 8 else 30.0)  # 12 %: battery_low at 08:00
    # Day 3: the rested cell reads 21-22 %, the sensor dies after 09:00; the elder is fine and
    # draws water at 12:00, 21:00 and next morning, while the door goes on checking in.
    for at, battery in ((local(3, 6, 40), 22.0), (local(3, 8), 21.0), (local(3, 9), 21.0)):
        _pir(engine, at, battery)
    for at in (local(3, 12), local(3, 21), local(4, 7), local(4, 12)):
        raised += sweep_until(engine, at)
        total += 20.0
        raised += engine.observe(reading("H1", "water", Signal.WATER_TOTAL, total, at))
    _door_checkins(engine, local(3, 0), local(4, 12))  # (after the fact: check-ins are no signs)
    # Zigbee2MQTT marks it offline 1,500 min after its last message.
    raised += engine.observe(reading("H1", "motion", Signal.AVAILABILITY, 0.0, local(4, 10)))
    raised += sweep_until(engine, local(4, 12))
    assert [c for c in raised if c.alert_class == "elder"] == []
    assert ("device_offline", "H1-motion") in [(c.kind, c.subject) for c in raised]


def test_sign_devices_quiet_with_a_low_battery_is_a_device_verdict() -> None:
    engine = make_engine("key")
    for minute in range(0, 150, 15):  # the motion sensor carries the home's signs; its battery is low
        _pir(engine, local(2, 8) + timedelta(minutes=minute), 12.0)
    _pir(engine, local(2, 10), 12.0)  # its last message: it dies
    _door_checkins(engine, local(2, 10), local(2, 23))
    raised = sweep_until(engine, local(2, 23))
    assert [c for c in raised if c.alert_class == "elder"] == []
    [verdict] = [c for c in raised if c.kind == "inactivity_unknown"]
    assert verdict.alert_class == "device" and not verdict.check_first
    assert (
        "设备故障，请检修并电话确认" in verdict.explanation
        and "H1-motion（电量低后无上报）" in verdict.explanation
    )


def test_a_sensor_that_stops_checking_in_is_a_device_fault_a_quiet_elder_is_not() -> None:
    for dies in (True, False):
        engine = make_engine("key", at=local(1, 0))
        # Three weeks in which the sensor checks in hourly (repeating "no occupancy") and sees the elder daily.
        at = local(1, 0, 30)
        while at < local(22, 9):
            engine.observe(reading("H1", "motion", Signal.MOTION, 0.0, at))
            at += timedelta(hours=1)
            if at.hour == 2:  # 10:30 local
                _pir(engine, at + timedelta(minutes=5), 90.0)
                engine.observe(reading("H1", "motion", Signal.MOTION, 0.0, at + timedelta(minutes=7)))
        last = local(22, 10)
        _pir(engine, last, 90.0)
        if not dies:  # the elder collapsed: the sensor goes on checking in
            for hour in range(11, 23):
                engine.observe(reading("H1", "motion", Signal.MOTION, 0.0, local(22, hour, 30)))
        _door_checkins(engine, last, local(22, 23))
        raised = [
            c for c in sweep_until(engine, local(22, 22, 1)) if c.kind != "device_silent"
        ]  # sos, health
        assert kinds(raised) == (["inactivity_unknown"] if dies else ["inactivity"])
