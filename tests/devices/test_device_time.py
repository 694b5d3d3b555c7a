"""A device's clock is never trusted without bounds: the hub's receipt time rules when device time is implausible."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.devices.device_time import DeviceTimePolicy
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.models import RawMessage, Reading, Signal
from hub.rules.engine import RulesEngine
from tests.rules.helpers import T0, make_engine, sweep_until

REGISTRY = DeviceRegistry.default()
MOTION = Binding("H1", "H1-motion", "zigbee2mqtt", "h1_motion", "RTCGQ11LM", {})
SOS = Binding("H1", "H1-sos", "zigbee2mqtt", "h1_sos", "TS0215A_sos", {})


def decode(binding: Binding, state: dict[str, object], received: datetime, **raw: object) -> list[Reading]:
    """Decode a Zigbee2MQTT state message of `binding` received at `received`, as the pipeline does."""
    topic = f"zigbee2mqtt/{binding.external_id}"
    message = RawMessage("mqtt", topic, json.dumps(state).encode(), received, **raw)  # type: ignore[arg-type]
    route = REGISTRY.route(topic)
    assert route is not None
    return REGISTRY.decode(message, route, binding)


def iso(at: datetime) -> str:
    return at.isoformat()


def test_a_device_time_in_the_future_is_replaced_by_receipt_time_and_kept_beside_it() -> None:
    year_2100 = datetime(2100, 1, 1, tzinfo=UTC)
    readings = decode(MOTION, {"occupancy": True, "last_seen": iso(year_2100)}, T0)
    assert readings and all(r.ts == T0 for r in readings)
    assert all(r.device_ts == year_2100 for r in readings)


def test_a_device_time_in_1970_or_two_days_behind_is_replaced_by_receipt_time() -> None:
    for claimed in (datetime(1970, 1, 1, tzinfo=UTC), T0 - timedelta(days=2)):
        (sos,) = [
            r
            for r in decode(SOS, {"action": "emergency", "last_seen": iso(claimed)}, T0)
            if r.signal == "sos"
        ]
        assert sos.ts == T0
        assert sos.device_ts == claimed


def test_a_plausible_device_time_is_kept_and_a_slightly_fast_clock_is_clamped() -> None:
    ten_min_ago = T0 - timedelta(minutes=10)
    readings = decode(MOTION, {"occupancy": True, "last_seen": iso(ten_min_ago)}, T0)
    assert all(r.ts == ten_min_ago and r.device_ts is None for r in readings)
    # One minute fast: within the drift tolerance, but no reading may lie in the hub's future.
    readings = decode(MOTION, {"occupancy": True, "last_seen": iso(T0 + timedelta(minutes=1))}, T0)
    assert all(r.ts == T0 and r.device_ts is None for r in readings)


def test_an_old_time_is_plausible_while_the_broker_held_messages_for_the_hub() -> None:
    # The hub was away from 08:00 to 14:00; a motion at 09:30 is delivered from the broker's queue at 14:00.
    away, back = T0 - timedelta(hours=6), T0
    at = away + timedelta(hours=1, minutes=30)
    readings = decode(MOTION, {"occupancy": True, "last_seen": iso(at)}, back, held=(away, back))
    assert all(r.ts == at and r.device_ts is None for r in readings)
    # Before the hub went away the hub was listening: a message that old cannot have waited in the broker.
    before = away - timedelta(days=1)
    readings = decode(MOTION, {"occupancy": True, "last_seen": iso(before)}, back, held=(away, back))
    assert all(r.ts == back and r.device_ts == before for r in readings)


def test_the_bounds_are_configurable() -> None:
    strict = DeviceTimePolicy(future_tolerance_s=0, max_lag_s=60)
    raw = RawMessage("http", "x", b"", T0)
    assert not strict.plausible(raw, Reading("H1", "d", Signal.MOTION, 1, T0 - timedelta(minutes=2)))
    assert strict.plausible(raw, Reading("H1", "d", Signal.MOTION, 1, T0 - timedelta(seconds=30)))


def _inactivity(engine: RulesEngine, until: datetime) -> list[str]:
    return [c.kind for c in sweep_until(engine, until) if c.kind.startswith("inactivity")]


def test_one_message_from_the_year_2100_does_not_stop_the_home_being_watched() -> None:
    engine = make_engine("general")  # 24 h window
    for r in decode(MOTION, {"occupancy": False, "last_seen": iso(T0)}, T0):
        engine.observe(r)
    at = T0 + timedelta(hours=1)
    for r in decode(MOTION, {"occupancy": True, "last_seen": iso(datetime(2100, 1, 1, tzinfo=UTC))}, at):
        engine.observe(r)
    # Silence from 01:00: the alert comes 24 h later, as it would without the bad clock.
    assert _inactivity(engine, at + timedelta(hours=23, minutes=50)) == []
    assert _inactivity(engine, at + timedelta(hours=24, minutes=1)) == ["inactivity"]


# Device times anywhere from 1970 to 2100; receipt times move forward by up to a day at a time.
_DEVICE_TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
_STEPS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=86_400), st.one_of(st.none(), _DEVICE_TIMES), st.booleans()),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(_STEPS)
def test_the_inactivity_deadline_never_moves_past_receipt_time_plus_the_window(
    steps: list[tuple[int, datetime | None, bool]],
) -> None:
    engine = make_engine("key")  # 12 h window
    window = timedelta(hours=12)
    home = engine.homes["H1"]
    received = T0
    for gap_s, device_time, occupied in steps:
        received += timedelta(seconds=gap_s)
        state: dict[str, object] = {"occupancy": occupied}
        if device_time is not None:
            state["last_seen"] = iso(device_time)
        for r in decode(MOTION, state, received):
            assert r.ts <= received
            engine.observe(r)
        deadline = datetime.fromtimestamp(engine.watched_since(home, received.timestamp()), UTC) + window
        assert deadline <= received + window
        assert home.last_sign <= received.timestamp()
    # And the silence after the last message is noticed within the window (plus one sweep).
    assert _inactivity(engine, received + window + timedelta(minutes=1))


def _clock_findings(engine: RulesEngine, messages: list[tuple[datetime, datetime]]) -> list[str]:
    """Feed motion messages (received, claimed last_seen); the texts of the `device_clock` candidates raised."""
    out = []
    for received, claimed in messages:
        for r in decode(MOTION, {"occupancy": False, "last_seen": iso(claimed)}, received):
            out += [c for c in engine.observe(r) if c.kind == "device_clock"]
    assert all(c.alert_class == "device" and c.subject == "H1-motion" for c in out)
    return [c.explanation for c in out]


def test_a_device_whose_clock_stays_wrong_is_a_device_finding_once() -> None:
    engine = make_engine("key")
    behind = timedelta(days=2)
    hourly = [(T0 + timedelta(hours=h), T0 + timedelta(hours=h) - behind) for h in range(6)]
    (text,) = _clock_findings(engine, hourly)
    assert "时钟异常" in text and "H1-motion" in text


def test_a_burst_of_queued_old_messages_is_no_clock_finding() -> None:
    # A bridge that lost its link for an hour flushes its queue in seconds, then reports live again.
    engine = make_engine("key")
    burst = [(T0 + timedelta(seconds=s), T0 - timedelta(hours=1) + timedelta(minutes=s)) for s in range(30)]
    live = [(T0 + timedelta(minutes=m), T0 + timedelta(minutes=m)) for m in range(1, 30)]
    assert _clock_findings(engine, burst + live) == []


def test_dates_at_the_ends_of_the_calendar_are_handled() -> None:
    retained = (datetime.min.replace(tzinfo=UTC), T0)  # a retained message: of any age
    for claimed in (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)):
        for held in (None, retained):
            readings = decode(MOTION, {"occupancy": True, "last_seen": iso(claimed)}, T0, held=held)
            assert all(r.ts <= T0 for r in readings)
