"""The daily routine renders real wire formats, in a plausible order, with a counter that only grows."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, date, datetime, time, timedelta

import pytest

from hub.sim.routine import (
    LOCAL_TZ,
    HomeState,
    SimHome,
    SimMessage,
    due_messages,
    new_state,
    plan_day,
    sos_press,
    startup_messages,
)
from hub.sim.site import simulated_site

DAY = date(2026, 11, 28)


def _state(seed: int = 1) -> HomeState:
    home = SimHome.from_site(simulated_site(1, seed)["homes"][0])
    return new_state(home, random.Random(seed))


def _local(message: SimMessage) -> datetime:
    return message.at.astimezone(LOCAL_TZ)


def test_morning_wake_has_motion_door_and_water_in_wire_format() -> None:
    state = _state()
    messages = plan_day(state, random.Random(5), DAY)
    morning = [m for m in messages if time(6) <= _local(m).time() <= time(12)]

    motion = [json.loads(m.payload) for m in morning if m.topic == "zigbee2mqtt/h001_motion"]
    assert motion, "no motion in the morning"
    assert motion[0]["occupancy"] is True
    assert {"illuminance", "battery", "linkquality"} <= motion[0].keys()
    assert 0 <= motion[0]["linkquality"] <= 255

    doors = [json.loads(m.payload)["contact"] for m in morning if m.topic == "zigbee2mqtt/h001_door"]
    assert doors[:2] == [False, True]  # opened, then closed again

    water = [m for m in morning if m.topic == "tele/h001_water/SENSOR"]
    assert water
    for m in water:
        body = json.loads(m.payload)
        assert isinstance(body["COUNTER"]["C1"], int)
        # Tasmota stamps its local time, without a zone.
        assert datetime.fromisoformat(body["Time"]) == _local(m).replace(tzinfo=None, microsecond=0)

    # The day starts with getting up: the first morning message is motion, between 06:00 and 08:00.
    assert morning[0].topic == "zigbee2mqtt/h001_motion"
    assert time(6) <= _local(morning[0]).time() <= time(8)


def test_night_is_quiet() -> None:
    for seed in range(10):
        messages = plan_day(_state(seed), random.Random(seed), DAY)
        late = [m for m in messages if _local(m).time() >= time(23) or _local(m).time() < time(1)]
        assert late == []


def test_occupancy_clears_90_seconds_later() -> None:
    messages = plan_day(_state(), random.Random(3), DAY)
    motion = [m for m in messages if m.topic.endswith("_motion")]
    for on, off in zip(motion[::2], motion[1::2], strict=True):
        assert json.loads(on.payload)["occupancy"] is True
        assert json.loads(off.payload)["occupancy"] is False
        assert off.at - on.at == timedelta(seconds=90)


@pytest.mark.parametrize("seed", range(12))
def test_pulse_counter_only_increases_over_days(seed: int) -> None:
    state = _state(seed)
    rng = random.Random(seed)
    sent = []
    for n in range(7):
        sent += [m for m in plan_day(state, rng, DAY + timedelta(days=n)) if m.topic.endswith("/SENSOR")]
    counts = [json.loads(m.payload)["COUNTER"]["C1"] for m in sorted(sent, key=lambda m: m.at)]
    assert len(counts) > 7 * 5
    assert all(b >= a for a, b in itertools.pairwise(counts))
    assert counts[-1] > counts[0]


def test_health_readings_are_native_json_with_utc_timestamps() -> None:
    messages = plan_day(_state(), random.Random(4), DAY)
    health = [m for m in messages if m.topic.startswith("eldercare/h001_health/")]
    signals = {m.topic.rsplit("/", 1)[1] for m in health}
    assert signals == {"heart_rate", "spo2", "bp_systolic", "bp_diastolic", "body_temp"}
    assert 2 <= len(health) // len(signals) <= 4  # a few rounds a day
    for m in health:
        body = json.loads(m.payload)
        ts = datetime.fromisoformat(body["ts"])
        assert ts.utcoffset() == timedelta(0)
        assert ts == m.at.replace(microsecond=0)
        assert isinstance(body["value"], int | float)


def test_sos_press_is_emergency_then_empty_echo() -> None:
    at = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    press, echo = sos_press(_state(), at)
    assert press.topic == echo.topic == "zigbee2mqtt/h001_sos"
    assert json.loads(press.payload) == {"action": "emergency", "battery": None, "linkquality": 90}
    assert json.loads(echo.payload) == {"action": ""}
    assert echo.at > press.at


def test_startup_announces_availability_retained() -> None:
    at = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    messages = startup_messages(_state(), at)
    retained = {m.topic: m.payload for m in messages if m.retain}
    for name in ("h001_sos", "h001_motion", "h001_door"):
        assert json.loads(retained[f"zigbee2mqtt/{name}/availability"]) == {"state": "online"}
    assert retained["tele/h001_water/LWT"] == b"Online"


def test_due_messages_hands_out_each_message_once_in_order_from_the_start() -> None:
    state = _state()
    rng = random.Random(2)
    start = datetime.combine(DAY, time(9), LOCAL_TZ)
    seen: list[SimMessage] = []
    now = start
    while now < start + timedelta(days=2):
        now += timedelta(minutes=7)
        seen += due_messages(state, rng, now, since=start)
    assert seen
    assert all(start <= m.at <= now for m in seen)
    assert [m.at for m in seen] == sorted(m.at for m in seen)
    assert len({(m.at, m.topic, m.payload) for m in seen}) == len(seen)
    days = {_local(m).date() for m in seen}
    assert {DAY, DAY + timedelta(days=1)} <= days


def test_the_pulse_counter_reports_every_tele_period_even_at_night() -> None:
    state = _state()
    rng = random.Random(3)
    start = datetime.combine(DAY, time(0), LOCAL_TZ).astimezone(UTC)
    now, sent = start, []
    while now < start + timedelta(days=1):
        now += timedelta(minutes=1)
        sent += due_messages(state, rng, now, since=start)
    topic = f"tele/{state.home.water}/SENSOR"
    reports = [m for m in sent if m.topic == topic]
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(reports)]
    assert reports and reports[0].at - start <= timedelta(seconds=state.home.report_interval_s)
    assert max(gaps) <= state.home.report_interval_s  # no silence longer than TelePeriod, night included
    counts = [json.loads(m.payload)["COUNTER"]["C1"] for m in reports]
    assert counts == sorted(counts) and counts[-1] > counts[0]  # water was used, and it never went back
