"""Physical ranges: every source's readings are checked once, in the registry, against their signal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hub.devices.errors import DeviceError
from hub.devices.model import Binding
from hub.devices.ranges import RANGES, RangeError
from hub.devices.registry import DeviceRegistry
from hub.models import RawMessage, Reading, Signal

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
MONITOR = Binding("home-1", "bp-3", "native", "bp-cuff-3", "health_monitor")
SOS_BUTTON = Binding("home-1", "sos-1", "zigbee2mqtt", "sos_1", "TS0215A_sos")
REGISTRY = DeviceRegistry.default()


def _decode(topic: str, payload: object, binding: Binding) -> list[Reading]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    route = REGISTRY.route(topic)
    assert route is not None
    return REGISTRY.decode(RawMessage("http", topic, data, NOW), route, binding)


def test_every_signal_has_a_range() -> None:
    assert set(RANGES) == set(Signal)
    assert all(low < high for low, high in RANGES.values())


@pytest.mark.parametrize(
    ("signal", "value", "shown"),
    [
        ("heart_rate", -50, "heart_rate=-50 超出物理范围 out of range 20..300 bpm"),
        ("heart_rate", 900, "heart_rate=900"),
        ("spo2", 101, "spo2=101"),
        ("body_temp", 4, "body_temp=4"),
        ("battery", 400, "battery=400"),
    ],
)
def test_impossible_values_are_refused_naming_signal_value_and_range(
    signal: str, value: float, shown: str
) -> None:
    with pytest.raises(RangeError) as caught:
        _decode("eldercare/bp-cuff-3/http", {"signal": signal, "value": value}, MONITOR)
    assert shown in str(caught.value)
    assert caught.value.kept == []


def test_boolean_is_not_a_measurement() -> None:
    # JSON true for a heart rate used to become 1.0 bpm.
    with pytest.raises(DeviceError, match="heart_rate must be a number"):
        _decode("eldercare/bp-cuff-3/http", {"signal": "heart_rate", "value": True}, MONITOR)
    with pytest.raises(DeviceError, match="heart_rate must be a number"):
        _decode("eldercare/bp-cuff-3/heart_rate", b"true", MONITOR)
    with pytest.raises(DeviceError, match="heart_rate must be a number"):
        _decode("eldercare/bp-cuff-3/heart_rate", {"value": False}, MONITOR)
    generic = Binding("home-1", "btn", "native", "btn-1", "generic")
    [sos] = _decode("eldercare/btn-1/http", {"signal": "sos", "value": True}, generic)
    assert (sos.signal, sos.value) == (Signal.SOS, 1.0)  # a state may still be a boolean
    [sos] = _decode("eldercare/btn-1/sos", b"ON", generic)
    assert sos.value == 1.0


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(DeviceError):
        _decode("eldercare/bp-cuff-3/http", b'{"signal": "spo2", "value": NaN}', MONITOR)
    with pytest.raises(DeviceError):
        _decode("eldercare/bp-cuff-3/spo2", b"inf", MONITOR)


def test_possible_readings_of_a_message_with_an_impossible_one_are_kept() -> None:
    # A garbled battery field must not swallow the SOS press it came with.
    with pytest.raises(RangeError) as caught:
        _decode("zigbee2mqtt/sos_1", {"action": "emergency", "battery": 250}, SOS_BUTTON)
    assert "battery=250" in str(caught.value)
    assert [(r.signal, r.value) for r in caught.value.kept] == [(Signal.SOS, 1.0)]


def test_an_esphome_gas_detector_mapped_in_objects_raises_gas() -> None:
    # examples/site.yaml maps kitchen_gas → gas; every such message used to be quarantined.
    node = Binding("home-1", "node-1", "esphome", "h002-node", "node", {"objects": {"kitchen_gas": "gas"}})
    [reading] = _decode("h002-node/binary_sensor/kitchen_gas/state", b"ON", node)
    assert (reading.signal, reading.value) == (Signal.GAS, 1.0)


def test_payloads_only_the_standard_json_parser_reads_are_still_read() -> None:
    # The fast parser refuses these; the standard one reads them, as the hub always did: a NaN field is
    # refused by the range check, naming it, and the SOS press beside it is kept; a byte-order mark is no error.
    with pytest.raises(RangeError) as caught:
        _decode("zigbee2mqtt/sos_1", b'{"action": "emergency", "battery": NaN}', SOS_BUTTON)
    assert "battery" in str(caught.value)
    assert [(r.signal, r.value) for r in caught.value.kept] == [(Signal.SOS, 1.0)]
    [sos, *_] = _decode("zigbee2mqtt/sos_1", b'\xef\xbb\xbf{"action": "emergency"}', SOS_BUTTON)
    assert (sos.signal, sos.value) == (Signal.SOS, 1.0)
    with pytest.raises(DeviceError, match="not valid JSON"):
        _decode("zigbee2mqtt/sos_1", b'{"action": "emergency"', SOS_BUTTON)
