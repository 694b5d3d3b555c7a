"""Issue 11, the detector: what made people stop answering (bedtime quiet gaps, the end of an absence, dying
sensors read as an elder in trouble, a door read as an outing), the alert classes and "ask the elder first".

Homes are in Asia/Shanghai, readings carry UTC timestamps (as every bridge sends them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.models import Reading, Severity, Signal
from hub.rules.base import clock_text
from hub.rules.calendar import Calendar
from hub.rules.engine import HomeProfile, RulesEngine
from hub.rules.routine import learn_baseline
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


def _weeks(days: int = 21) -> list[Reading]:
    """Three weeks of one elder: up at 06:40±10, about: motion every 30 min until 18:00, then hourly until a
    bedtime between 20:00 and 22:00, or still in front of the television from 17:00 until bed once a week; up
    for the toilet at 02:00 most nights; out for two hours (the door, then nothing inside) every third
    afternoon."""
    out: list[Reading] = [reading("H1", "door", Signal.CONTACT, 0.0, local(1, 0))]
    for day in range(1, days + 1):
        up = local(day, 6, 40) + timedelta(minutes=(day % 3 - 1) * 10)
        bed = local(day, 20) + timedelta(minutes=30 * (day % 5))
        at = up
        while at <= bed:
            if (day % 3 == 0 and local(day, 14) <= at < local(day, 16)) or (
                day % 7 == 0 and local(day, 17) < at < bed
            ):
                at += timedelta(minutes=30)
                continue
            out += _motion_readings(at)
            at += timedelta(minutes=30 if at < local(day, 18) else 60)
        if day % 3 == 0:
            out += _motion_readings(local(day, 13, 58))
            out.append(reading("H1", "door", Signal.CONTACT, 1.0, local(day, 14)))
            out.append(reading("H1", "door", Signal.CONTACT, 0.0, local(day, 14, 1)))
            out.append(reading("H1", "door", Signal.CONTACT, 1.0, local(day, 16)))
            out.append(reading("H1", "door", Signal.CONTACT, 0.0, local(day, 16, 1)))
            out += _motion_readings(local(day, 16, 3))
        if day % 4:
            out += _motion_readings(local(day + 1, 2))
    return sorted(out, key=lambda r: r.ts)


def _motion_readings(at: datetime) -> list[Reading]:
    return [
        reading("H1", "motion", Signal.MOTION, 1.0, at),
        reading("H1", "motion", Signal.MOTION, 0.0, at + timedelta(seconds=90)),
    ]


def _learned_engine() -> RulesEngine:
    engine = make_engine("key", at=local(22, 3, 30))
    baseline = learn_baseline(_weeks(), engine.tz, engine.homes["H1"].th, local(22, 3, 30))
    assert baseline is not None and len(baseline.rates) == 24
    engine.set_baseline("H1", baseline)
    return engine


def test_the_learned_activity_model_knows_the_hours_of_this_home() -> None:
    engine = _learned_engine()
    b = engine.homes["H1"].learned
    assert b is not None
    assert 1.8 <= b.rate(10) <= 2.1  # every 30 min in the morning
    assert b.rate(23) == 0 and b.rate(2) > 0.5  # asleep, up for the toilet most nights
    assert 110 <= b.outing_max_min <= 130  # outings of two hours
    assert b.quiet_limit(10 * 60) < b.quiet_limit(17 * 60)  # the quiet evenings widen the evening's bound
    # Restart-safe: the snapshot form gives the same model back.
    assert Baseline.from_json(b.to_json()) == b


def test_quiet_gap_does_not_fire_at_bedtime() -> None:
    engine = _learned_engine()
    for hour, minute in ((6, 40), (8, 0), (12, 0), (16, 0), (17, 0), (18, 0)):
        motion(engine, local(22, hour, minute))
    raised = []
    for minute in range(0, 210, 30):  # up just before 06:00, when the key tier's hard 12 h window is due
        raised += sweep_until(engine, local(23, 5, 55) + timedelta(minutes=minute))
        motion(engine, local(23, 5, 55) + timedelta(minutes=minute))
    assert [c for c in raised if c.alert_class == "elder"] == []


def test_a_silence_unusual_for_this_hour_is_raised_within_two_hours_in_plain_words() -> None:
    engine = _learned_engine()
    for hour, minute in ((6, 40), (8, 0), (9, 30), (10, 0)):
        motion(engine, local(22, hour, minute))
    raised = sweep_until(engine, local(22, 13))
    assert kinds(raised) == ["quiet_gap"] and raised[0].check_first
    assert raised[0].at <= local(22, 11, 31)  # asking her first is cheap: after 1.5 h, not 2 h
    assert raised[0].explanation == (
        "通常此时段每小时约 2 次活动，自 03-22 10:00（有人活动）起已 1 小时 30 分 无活动（如常约应有 3 次）"
    )


def _leaves_at(engine: RulesEngine, day: int, hh: int, mm: int) -> None:
    """Motion in the hallway, then the door opens and closes (she leaves, or collapses by the door)."""
    motion(engine, local(day, hh, mm) - timedelta(minutes=2))
    engine.observe(reading("H1", "door", Signal.CONTACT, 1.0, local(day, hh, mm)))
    engine.observe(reading("H1", "door", Signal.CONTACT, 0.0, local(day, hh, mm)))


def test_a_long_outing_is_an_elder_check_on_her_phone_well_before_the_tier_window() -> None:
    engine = _learned_engine()
    b = engine.homes["H1"].learned
    assert b is not None and b.outing_limit(14 * 60) == 120  # her afternoon outings last two hours
    motion(engine, local(22, 6, 40))
    _leaves_at(engine, 22, 10, 3)  # then nothing at all
    # She never goes out in the morning and her outings last 2 h at most; a day out ends by the evening: not
    # back by her usual bedtime (20:20), the centre calls her own phone (she carries it when out) instead of
    # waiting for the 12 h window at 22:03.
    assert clock_text(b.last_median_min) == "20:20"
    raised = sweep_until(engine, local(22, 23))
    assert [(c.kind, c.alert_class, c.check_first) for c in raised] == [("outing_overdue", "elder", True)]
    assert local(22, 20, 20) <= raised[0].at <= local(22, 20, 21)
    assert raised[0].explanation == (
        "老人 03-22 10:03 出门后已 10 小时 17 分 未归、家中无任何活动，此时段外出通常不超过 2 小时，"
        "请先电话确认老人平安"
    )
    # Gone out after supper: her outings last 2 h, so 3 h on (× outing_factor 1.5), past her bedtime.
    engine = _learned_engine()
    motion(engine, local(22, 18, 30))
    _leaves_at(engine, 22, 19, 0)
    raised = sweep_until(engine, local(22, 23))
    assert kinds(raised) == ["outing_overdue"] and local(22, 22) <= raised[0].at <= local(22, 22, 1)
    # Back through the door with activity inside before that: an outing like any other, nobody is called.
    engine = _learned_engine()
    _leaves_at(engine, 22, 10, 3)
    raised = sweep_until(engine, local(22, 12, 50))
    engine.observe(reading("H1", "door", Signal.CONTACT, 1.0, local(22, 12, 50)))
    engine.observe(reading("H1", "door", Signal.CONTACT, 0.0, local(22, 12, 50)))
    motion(engine, local(22, 12, 52))
    raised += sweep_until(engine, local(22, 14))
    assert [c for c in raised if c.alert_class == "elder"] == []


def test_where_nobody_can_be_asked_door_then_nothing_waits_for_the_tier_window() -> None:
    # The elder cannot answer the phone: a call is no cheap check, and a visit to an empty home is what a day
    # trip would cost, so door-then-nothing is judged by the key tier's 12 h window (not stretched past 3 h).
    engine = _learned_engine()
    engine.set_register([], {"H1": HomeProfile("key", "双龙湖街道", can_check=False)}, local(22, 3, 30))
    motion(engine, local(22, 6, 40))
    _leaves_at(engine, 22, 10, 3)
    raised = sweep_until(engine, local(22, 22, 10))
    assert [(c.kind, c.alert_class) for c in raised] == [("inactivity", "elder")]
    assert local(22, 22, 3) <= raised[0].at <= local(22, 22, 4)


def test_where_nobody_can_be_asked_a_late_morning_needs_stronger_evidence() -> None:
    # No sign this morning. An elder who can answer is asked at 08:10 (up at 06:40 + 90 min); where she cannot,
    # the call would page a visitor: routine_late waits no_check_factor (2) times its margin, 09:40.
    profiles = {
        "H1": HomeProfile("general", "双龙湖街道"),
        "H2": HomeProfile("general", "双龙湖街道", can_check=False),
    }
    raised = []
    for code in profiles:
        engine = _learned_engine()
        engine.set_register([], {"H1": profiles[code]}, local(22, 3, 30))
        raised += sweep_until(engine, local(22, 9, 55))
    assert [(c.kind, c.at) for c in raised] == [
        ("routine_late", local(22, 8, 10)),
        ("routine_late", local(22, 9, 40)),
    ]
    th = engine.thresholds("general", "H2", can_check=False)
    assert th.routine_min_margin_min == 180 and th.quiet_gap_factor == 1.5 and not th.ask_first
    assert th.inactivity_hours == 24  # the hard window never moves
    # Homes whose elders can answer keep sharing the usual thresholds.
    assert engine.thresholds("general", "H3") is engine.thresholds("general", "H4")


def test_a_snapshot_from_before_the_model_restores_and_keeps_judging() -> None:
    engine = _learned_engine()
    motion(engine, local(22, 6, 40))
    saved = engine.snapshot()["H1"]
    # What a hub before the activity model wrote: an 8-number baseline and devices without their beat.
    saved["b"] = saved["b"][:8]  # type: ignore[index]
    saved["dev"] = [item[:8] for item in saved["dev"]]  # type: ignore[attr-defined]
    restarted = make_engine("key", at=local(22, 7))
    restarted.restore("H1", saved, local(22, 7))
    b = restarted.homes["H1"].learned
    assert b is not None and b.rates == b"" and b.first_median_min == 400
    motion(restarted, local(22, 10))
    raised = sweep_until(restarted, local(22, 15))  # the fallback: longest usual quiet spell, at least 4 h
    assert kinds(raised) == ["quiet_gap"] and "白天通常最长静默约" in raised[0].explanation


def test_a_home_whose_quiet_gap_kept_false_alarming_waits_longer_but_never_past_the_tier_window() -> None:
    # The same silence as above, in a home where quiet_gap was tightened twice (factor 2) after false alarms:
    # no quiet_gap at 12:10; the key tier's 12 h window still catches the silence.
    engine = _learned_engine()
    profiles = {"H1": HomeProfile("key", "双龙湖街道", factors={"quiet_gap": 2.0})}
    engine.set_register([], profiles, local(22, 3, 30))
    th = engine.homes["H1"].th
    assert th.quiet_gap_factor == 3.0 and th.activity_min_hours == 3.0 and th.inactivity_hours == 12
    for hour, minute in ((6, 40), (8, 0), (9, 30), (10, 0)):
        motion(engine, local(22, hour, minute))
    assert sweep_until(engine, local(22, 12, 10)) == []
    raised = sweep_until(engine, local(22, 22, 30))
    assert "inactivity" in kinds(raised)
    assert all(c.at <= local(22, 22, 1) for c in raised)  # 10:00 + 12 h, the hard window, unchanged
    # The other homes keep sharing the untightened thresholds.
    assert engine.thresholds("key", "H2") is engine.thresholds("key", "H3")
    assert engine.thresholds("key", "H2").quiet_gap_factor == 1.5


def test_a_lie_in_like_those_of_her_weeks_is_her_sleep_not_a_late_morning() -> None:
    # One morning of her three weeks she slept until 08:40, one evening she was in bed before 18:00.
    lie_in = (local(10, 4, 30), local(10, 8, 40))
    early = (local(12, 18), local(13, 4, 30))
    readings = [r for r in _weeks() if not any(a <= r.ts < b for a, b in (lie_in, early))]
    engine = make_engine("key", at=local(22, 3, 30))
    baseline = learn_baseline(readings, engine.tz, engine.homes["H1"].th, local(22, 3, 30))
    assert baseline is not None
    assert baseline.first_late_min == 120 and baseline.last_early_min >= 150  # usually up 06:40, bed 20:20
    assert Baseline.from_json(baseline.to_json()) == baseline
    engine.set_baseline("H1", baseline)
    # No sign this morning: the centre asks at 09:40 (as late as she has slept × lie_in_factor 1.5: 3 h after
    # 06:40), not at 06:40 + 90 min. (Her tier's configured morning check at 09:00 is a policy, and stays.)
    engine.set_register([], {"H1": HomeProfile("general", "双龙湖街道")}, local(22, 3, 30))
    assert sweep_until(engine, local(22, 9, 35)) == []
    raised = sweep_until(engine, local(22, 9, 55))
    assert kinds(raised) == ["routine_late"] and local(22, 9, 40) <= raised[0].at <= local(22, 9, 41)
    # Without that lie-in in her weeks, the usual margin: 06:40 + 90 min.
    assert kinds(sweep_until(_learned_engine(), local(22, 8, 15))) == ["routine_late"]
