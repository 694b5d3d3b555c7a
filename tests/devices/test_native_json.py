"""The HTTP ingest body decoder of the native scheme, and the registry's refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.devices.definitions.native import decode_native_json
from hub.devices.errors import DeviceError, UnknownDeviceError
from hub.devices.model import Binding, Route
from hub.devices.registry import DeviceRegistry
from hub.models import RawMessage, Signal

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
MONITOR = Binding("home-1", "bp-3", "native", "bp-cuff-3", "health_monitor")


def test_one_object_body() -> None:
    [reading] = decode_native_json({"signal": "heart_rate", "value": 72}, MONITOR, NOW)
    assert (reading.home, reading.device, reading.signal, reading.value, reading.unit, reading.ts) == (
        "home-1",
        "bp-3",
        Signal.HEART_RATE,
        72.0,
        "bpm",
        NOW,
    )


def test_list_body_with_timestamps() -> None:
    body = [
        {"signal": "bp_systolic", "value": 135, "ts": "2024-05-01T15:58:00+08:00"},
        {"signal": "bp_diastolic", "value": 85, "ts": "2024-05-01T07:58:00Z"},
        {"signal": "battery", "value": 80},
    ]
    readings = decode_native_json(body, MONITOR, NOW)
    assert [(r.signal, r.value) for r in readings] == [
        (Signal.BP_SYSTOLIC, 135.0),
        (Signal.BP_DIASTOLIC, 85.0),
        (Signal.BATTERY, 80.0),
    ]
    assert [r.ts for r in readings] == [datetime(2024, 5, 1, 7, 58, tzinfo=UTC)] * 2 + [NOW]


def test_bool_value_is_one_or_zero() -> None:
    button = Binding("home-1", "b-1", "native", "call-button-1", "sos_button")
    assert [r.value for r in decode_native_json([{"signal": "sos", "value": True}], button, NOW)] == [1.0]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "empty list"),
        ("72", "body must be a JSON object"),
        ([{"signal": "heart_rate", "value": 72}, 5], "item 1 must be a JSON object"),
        ({"signal": "heart_rate"}, "needs a 'value'"),
        ({"signal": "heartrate", "value": 72}, "unknown signal 'heartrate'"),
        ({"signal": "smoke", "value": 1}, "does not send signal 'smoke'"),
        ({"signal": "heart_rate", "value": "72"}, "'body.value' must be a number"),
        ({"signal": "heart_rate", "value": 72, "ts": 1714550400}, "'ts' must be an ISO-8601 string"),
        ({"signal": "heart_rate", "value": 72, "ts": "2024-05-01 08:00"}, "'ts' has no time zone"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: object, reason: str) -> None:
    with pytest.raises(DeviceError, match=reason):
        decode_native_json(body, MONITOR, NOW)


def test_non_native_binding_is_refused() -> None:
    binding = Binding("home-1", "z-1", "zigbee2mqtt", "sos", "TS0215A_sos")
    with pytest.raises(DeviceError, match="not a native model"):
        decode_native_json({"signal": "sos", "value": 1}, binding, NOW)


def test_registry_refuses_unknown_models_and_crossed_ecosystems() -> None:
    registry = DeviceRegistry.default()
    raw = RawMessage("mqtt", "eldercare/bp-cuff-3/heart_rate", b"72", NOW)
    route = Route("native", "bp-cuff-3", "heart_rate")
    with pytest.raises(UnknownDeviceError, match="no device model 'bp9000'"):
        registry.decode(raw, route, Binding("home-1", "bp-3", "native", "bp-cuff-3", "bp9000"))
    with pytest.raises(DeviceError, match="bound in 'zigbee2mqtt'"):
        registry.decode(raw, route, Binding("home-1", "bp-3", "zigbee2mqtt", "bp-cuff-3", "WXKG11LM"))
    with pytest.raises(UnknownDeviceError):
        registry.definition("tasmota", "WXKG11LM")
