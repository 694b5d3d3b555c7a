"""Frozen-clock scenarios for every rule, including the edges the issue names."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.config import ConfigError, parse_config
from hub.models import Severity, Signal
from hub.rules.calendar import Calendar, ModePeriod
from hub.rules.routine import learn_baseline
from hub.rules.settings import RulesConfig
from hub.rules.state import Baseline
from tests.rules.helpers import T0, checkins, feed, kinds, local, make_engine, motion, reading, sweep_until


def test_key_target_inactivity_fires_at_twelve_hours_not_before() -> None:
    engine = make_engine("key")
    last = local(2, 10)
    motion(engine, last)
    assert sweep_until(engine, last + timedelta(hours=12) - timedelta(seconds=31)) == []
    raised = sweep_until(engine, last + timedelta(hours=12, seconds=30))
    assert kinds(raised) == ["inactivity"]
    alert = raised[0]
    assert alert.alert_class == "elder" and alert.severity is Severity.URGENT
    assert last + timedelta(hours=12) <= alert.at <= last + timedelta(hours=12, seconds=30)
    assert "重点对象窗口 12 小时" in alert.explanation and "03-02 10:00" in alert.explanation
    # Raised once per silence, not at every sweep.
    assert "inactivity" not in kinds(sweep_until(engine, last + timedelta(hours=20)))


def test_general_target_window_is_twenty_four_hours() -> None:
    engine = make_engine("general")
    motion(engine, local(2, 10))
    raised = sweep_until(engine, local(3, 9, 59))
    assert "inactivity" not in kinds(raised)
    assert "inactivity" in kinds(sweep_until(engine, local(3, 10, 1)))


def test_a_sign_at_exactly_the_deadline_resets_the_clock() -> None:
    engine = make_engine("key")
    last = local(2, 10)
    motion(engine, last)
    deadline = last + timedelta(hours=12)
    sweep_until(engine, deadline - timedelta(minutes=1))
    # The door opens at the deadline itself, before the sweep of that instant runs.
    engine.observe(reading("H1", "door", Signal.CONTACT, 0.0, deadline - timedelta(hours=1)))
    engine.observe(reading("H1", "door", Signal.CONTACT, 1.0, deadline))
    assert engine.sweep(deadline) == []
    assert "inactivity" not in kinds(sweep_until(engine, deadline + timedelta(hours=11)))


def test_heartbeats_repeating_cached_state_are_not_signs_of_life() -> None:
    engine = make_engine("key")
    motion(engine, local(2, 10))
    for hour in range(11, 23):  # the sensor's hourly check-in repeats "no occupancy", the door "closed"
        engine.observe(reading("H1", "motion", Signal.MOTION, 0.0, local(2, hour)))
        engine.observe(reading("H1", "door", Signal.CONTACT, 0.0, local(2, hour)))
        engine.observe(reading("H1", "water", Signal.WATER_TOTAL, 500.0, local(2, hour)))
    assert "inactivity" in kinds(sweep_until(engine, local(2, 22, 1)))


def test_morning_check_uses_local_time_in_shanghai() -> None:
    engine = make_engine("key")  # key targets: morning check 09:00 local = 01:00 UTC
    motion(engine, local(2, 22))
    raised = sweep_until(engine, local(3, 9, 1))
    assert kinds(raised) == ["morning_check"]
    assert raised[0].at.hour == 1 and raised[0].at.minute == 0  # UTC
    assert "今日 09:00 前仍无任何活动迹象" in raised[0].explanation


def test_morning_check_is_quiet_when_the_elder_is_up() -> None:
    engine = make_engine("key")
    motion(engine, local(2, 21))
    motion(engine, local(3, 6, 40))
    assert sweep_until(engine, local(3, 10)) == []


def test_meter_reset_is_not_negative_use_and_continuous_flow_is_seen() -> None:
    engine = make_engine("key")
    water = lambda litres, at: engine.observe(reading("H1", "water", Signal.WATER_TOTAL, litres, at))  # noqa: E731
    water(1000.0, local(2, 8))
    water(1010.0, local(2, 8, 5))
    water(3.0, local(2, 8, 10))  # the counter restarted after a power cut: 3 L used since
    home = engine.homes["H1"]
    assert sum(home.slots) == 130  # decilitres: 10 L + the 3 L since the restart, never negative
    # Then a tap left dripping into the sink: 10 L every 5 minutes.
    total, at, raised = 3.0, local(2, 8, 15), []
    while at < local(2, 12) and not raised:
        total += 10
        raised = water(total, at)
        at += timedelta(minutes=5)
    assert kinds(raised) == ["continuous_flow"]
    # Every half hour since the 08:00 slot had use: 2.5 h of slots, the first of them partly before the tap.
    assert timedelta(hours=1, minutes=30) <= raised[0].at - local(2, 8, 15) <= timedelta(hours=2, minutes=30)
    assert "每 30 分钟都有用水" in raised[0].explanation


def test_a_tap_wide_open_is_seen_within_about_an_hour_a_cleaning_morning_is_not() -> None:
    engine = make_engine("key")
    water = lambda litres, at: engine.observe(reading("H1", "water", Signal.WATER_TOTAL, litres, at))  # noqa: E731
    # Cleaning: a 45 L bucket every 20 minutes draws hard, but not like an open tap.
    total, at, raised = 1000.0, local(2, 8), []
    water(total, at)
    while at < local(2, 9, 20):
        at += timedelta(minutes=20)
        total += 45
        raised += water(total, at)
    assert raised == []
    # The tap left wide open at 12:00: 30 L every 5 minutes (360 L/h), reported by a meter giving totals only.
    at = local(2, 12)
    while at < local(2, 15) and not raised:
        at += timedelta(minutes=5)
        total += 30
        raised = water(total, at)
    assert kinds(raised) == ["continuous_flow"] and raised[0].at <= local(2, 13)
    assert "每 30 分钟用水均超过 150 升" in raised[0].explanation


def test_flow_rate_above_threshold_for_an_hour() -> None:
    engine = make_engine("key")
    flow = lambda value, at: engine.observe(reading("H1", "water", Signal.WATER_FLOW, value, at))  # noqa: E731
    assert flow(400, local(2, 9)) == []
    assert flow(420, local(2, 9, 59)) == []
    assert kinds(flow(410, local(2, 10, 1))) == ["continuous_flow"]


def test_dead_battery_is_a_device_alert_never_an_elder_alert() -> None:
    engine = make_engine("key")
    motion(engine, local(2, 8))
    raised = engine.observe(reading("H1", "motion", Signal.BATTERY, 4.0, local(2, 8, 5)))
    assert [(c.kind, c.alert_class, c.subject) for c in raised] == [("battery_low", "device", "H1-motion")]
    # It dies: Zigbee2MQTT marks it offline; the elder's water and door still show life.
    raised = feed(
        engine,
        [
            reading("H1", "motion", Signal.AVAILABILITY, 0.0, local(2, 9)),
            reading("H1", "water", Signal.WATER_TOTAL, 100.0, local(2, 9)),
            *(reading("H1", "water", Signal.WATER_TOTAL, 100.0 + h, local(2, h)) for h in range(10, 22, 2)),
        ],
    )
    raised += sweep_until(engine, local(3, 7))
    assert [c for c in raised if c.alert_class == "elder"] == []
    assert ("device_offline", "H1-motion") in [(c.kind, c.subject) for c in raised]


def test_all_sign_devices_down_means_cannot_tell_not_elder_inactive() -> None:
    engine = make_engine("key")
    motion(engine, local(2, 8))
    for role in ("motion", "door", "water"):
        engine.observe(reading("H1", role, Signal.AVAILABILITY, 0.0, local(2, 9)))
    raised = sweep_until(engine, local(2, 21))
    elder = [c for c in raised if c.alert_class == "elder"]
    assert elder == []
    assert "inactivity_unknown" in kinds(raised)
    unknown = next(c for c in raised if c.kind == "inactivity_unknown")
    assert unknown.alert_class == "device" and "无法判断（设备故障）" in unknown.explanation


def test_a_single_vital_spike_does_not_fire_three_in_a_row_do() -> None:
    engine = make_engine("key")
    hr = lambda value, at: engine.observe(reading("H1", "health", Signal.HEART_RATE, value, at))  # noqa: E731
    assert hr(150, local(2, 8)) == []
    assert hr(75, local(2, 8, 1)) == []
    assert hr(150, local(2, 9)) == [] and hr(152, local(2, 9, 1)) == []
    raised = hr(155, local(2, 9, 2))
    assert kinds(raised) == ["vital_heart_rate"] and "高于 130" in raised[0].explanation
    assert hr(156, local(2, 9, 3)) == []  # one alert per episode


def test_vital_out_of_bounds_for_the_configured_minutes() -> None:
    engine = make_engine("key")
    spo2 = lambda value, at: engine.observe(reading("H1", "health", Signal.SPO2, value, at))  # noqa: E731
    assert spo2(86, local(2, 8)) == []
    assert kinds(spo2(87, local(2, 8, 11))) == ["vital_spo2"]


def test_per_home_override_beats_the_tier_default() -> None:
    engine = make_engine("key", homes={"H1": {"heart_rate_high": 160, "inactivity_hours": 6}})
    hr = [engine.observe(reading("H1", "health", Signal.HEART_RATE, 150, local(2, 8, m))) for m in range(4)]
    assert all(r == [] for r in hr)
    motion(engine, local(2, 10))
    assert "inactivity" in kinds(sweep_until(engine, local(2, 16, 1)))


def test_sos_opens_at_once_and_a_cancel_is_recorded() -> None:
    engine = make_engine("key")
    pressed = engine.observe(reading("H1", "sos", Signal.SOS, 1.0, local(2, 10)))
    assert [(c.kind, c.severity, c.cancel) for c in pressed] == [("sos", Severity.CRITICAL, False)]
    cancelled = engine.observe(reading("H1", "sos", Signal.SOS, 0.0, local(2, 10, 1)))
    assert [(c.kind, c.cancel) for c in cancelled] == [("sos", True)]


def test_absence_suppresses_inactivity_but_not_sos() -> None:
    engine = make_engine("key")
    motion(engine, local(2, 9))
    start, end = local(2, 10), local(5, 10)
    engine.set_calendar(Calendar([("H1", start.timestamp(), end.timestamp())]), local(2, 9, 30))
    checkins(engine, local(2, 12), local(6, 0))
    assert [c for c in sweep_until(engine, local(5, 9)) if c.alert_class == "elder"] == []
    assert kinds(engine.observe(reading("H1", "sos", Signal.SOS, 1.0, local(4, 12)))) == ["sos"]
    # After the absence the clock starts again from its end, not from the last sign days ago.
    raised = sweep_until(engine, local(5, 22, 1))
    assert "inactivity" in kinds(raised)
    assert next(c for c in raised if c.kind == "inactivity").at >= end + timedelta(hours=12)


def test_weather_mode_tightens_the_window_for_its_street_only() -> None:
    engine = make_engine("key", codes=("H1", "H2"))
    engine.homes["H2"].street = "龙溪街道"
    motion(engine, local(2, 10), "H1")
    motion(engine, local(2, 10), "H2")
    mode = ModePeriod("双龙湖街道", local(2, 0).timestamp(), local(4, 0).timestamp(), 0.5)
    engine.set_calendar(Calendar(modes=[mode]), local(2, 10))
    raised = sweep_until(engine, local(2, 16, 1))
    assert [(c.home, c.kind) for c in raised] == [("H1", "inactivity")]


def _history_readings() -> list:
    """Three weeks of a regular elder: up at 06:40±10, water 100 L a day, motion every hour until 21:30."""
    out = []
    total = 1000.0
    for day in range(1, 22):
        base = 6 * 60 + 40 + (day % 5 - 2) * 5
        at0 = local(day, 0) + timedelta(minutes=base)
        out.append(reading("H1", "motion", Signal.MOTION, 0.0, at0 - timedelta(minutes=1)))
        for k in range(15):
            at = at0 + timedelta(minutes=60 * k)
            out.append(reading("H1", "motion", Signal.MOTION, 1.0, at))
            out.append(reading("H1", "motion", Signal.MOTION, 0.0, at + timedelta(seconds=90)))
            total += 100 / 15
            out.append(reading("H1", "water", Signal.WATER_TOTAL, total, at + timedelta(minutes=2)))
    return out


def test_learned_routine_alerts_before_the_fixed_morning_check() -> None:
    engine = make_engine("key", at=local(21, 12))
    baseline = learn_baseline(_history_readings(), engine.tz, engine.homes["H1"].th, local(22, 3, 30))
    assert baseline is not None and baseline.days >= 20
    assert abs(baseline.first_median_min - 400) <= 10 and abs(baseline.water_median_l - 100) < 1
    engine.set_baseline("H1", baseline)
    motion(engine, local(21, 21, 30))
    raised = sweep_until(engine, local(22, 9, 0))
    assert kinds(raised) == ["routine_late"]
    assert raised[0].at < local(22, 9)  # earlier than the 09:00 morning check of key targets
    assert raised[0].explanation.startswith("通常 06:40±15 分钟首次活动，今日")


def test_learned_routine_stays_silent_without_enough_history() -> None:
    engine = make_engine("key", at=local(6, 12), tiers={"key": {"morning_check": ""}})
    few = [r for r in _history_readings() if r.ts < local(6, 0)]
    baseline = learn_baseline(few, engine.tz, engine.homes["H1"].th, local(6, 3, 30))
    assert baseline is not None and baseline.days < RulesConfig().defaults.routine_min_days
    engine.set_baseline("H1", baseline)
    motion(engine, local(6, 21, 30))
    assert sweep_until(engine, local(7, 9, 0)) == []


def test_quiet_gap_during_the_day() -> None:
    engine = make_engine("key")
    engine.set_baseline("H1", Baseline(21, 400, 15, 100, 10, 80, 21 * 60 + 30, 15))
    motion(engine, local(3, 6, 40))
    motion(engine, local(3, 10, 0))
    raised = sweep_until(engine, local(3, 14, 30))
    assert kinds(raised) == ["quiet_gap"] and raised[0].at >= local(3, 14)


def test_water_no_use_only_when_water_is_the_only_sign_source() -> None:
    engine = make_engine("general")
    for role in ("motion", "door"):
        engine.homes["H1"].devices[f"H1-{role}"].signs = 0.0  # a Longgang-style home: a water meter only
    morning = [
        reading("H1", "water", Signal.WATER_TOTAL, 100.0 + 5 * k, local(2, 6) + timedelta(minutes=7.5 * k))
        for k in range(9)
    ]  # the morning's use, the last of it at 07:00; then the meter reports hourly, nothing drawn
    quiet = [reading("H1", "water", Signal.WATER_TOTAL, 140.0, local(2, hour)) for hour in range(8, 22)]
    raised = feed(engine, morning + quiet)
    assert "water_no_use" in kinds(raised)
    assert local(2, 19) <= next(c for c in raised if c.kind == "water_no_use").at <= local(2, 19, 31)


def test_device_silent_past_its_report_interval() -> None:
    engine = make_engine("key")
    engine.homes["H1"].devices["H1-water"].interval_s = 3 * 3600.0  # as `report_interval_s` = 3 h would
    engine.observe(reading("H1", "water", Signal.WATER_TOTAL, 100.0, T0))
    assert "device_silent" not in kinds(sweep_until(engine, T0 + timedelta(hours=8, minutes=59)))
    raised = sweep_until(engine, T0 + timedelta(hours=9, minutes=1))  # 3 × the 3 h report interval
    assert ("device_silent", "H1-water", "device") in [(c.kind, c.subject, c.alert_class) for c in raised]


def test_a_misspelt_override_fails_at_start_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"homes\.H001\.heart_rat_low"):
        parse_config({"rules": {"homes": {"H001": {"heart_rat_low": 35}}}}, env={})
    config = parse_config({"rules": {"tiers": {"key": {"inactivity_hours": 8}}}}, env={})
    assert config.rules.thresholds("key", "H001").inactivity_hours == 8
    assert config.rules.thresholds("general", "H001").inactivity_hours == 24
