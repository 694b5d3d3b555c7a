"""Zigbee2MQTT device models.

Every model gets the same frame (`z2m_device`): the "availability" channel (``{"state":"online"}`` or the
1.x plain ``online``/``offline``) → AVAILABILITY, and the "state" channel, one JSON object of the device's
cached state, read by the model's converters. ``last_seen`` (ISO-8601 or epoch ms), when Zigbee2MQTT is
configured to send it, is the time of every reading in the message; otherwise the time of receipt.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.devices import convert as m
from hub.devices.convert import Converter, Pairs
from hub.devices.ecosystems import ZIGBEE2MQTT
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.models import Reading, Signal


def z2m_device(model: str, vendor: str, description: str, *converters: Converter) -> DeviceDefinition:
    """A Zigbee2MQTT model from its converters; availability and `linkquality` come with every model."""
    all_converters = (*converters, m.linkquality())
    what = f"zigbee2mqtt {model}"

    def decode(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
        if route.channel == "availability":
            value = m.parse_availability(payload, what)
            return [Reading(binding.home, binding.device, Signal.AVAILABILITY, value, received_at)]
        if route.channel != "state":
            raise DeviceError(f"{what}: unknown channel {route.channel!r}")
        state = m.parse_json_object(payload, what)
        # With the HA legacy action sensor on, every action is followed by a copy of the state with an empty
        # action. It repeats what was just sent, so it carries nothing new — in particular not a second press.
        if state.get("action") == "" or state.get("click") == "":
            return []
        last_seen = state.get("last_seen")
        ts = received_at if last_seen is None else m.parse_timestamp(last_seen, "last_seen")
        settings = binding.settings
        pairs: Pairs = []
        for converter in all_converters:
            pairs += converter.convert(state, settings)
        return m.readings(binding, pairs, ts)

    return DeviceDefinition(
        ecosystem=ZIGBEE2MQTT,
        model=model,
        vendor=vendor,
        description=description,
        decode=decode,
        exposes=m.exposes_of(all_converters, Signal.AVAILABILITY),
        check_settings=m.checks_of(all_converters),
    )


# ------------------------------------------------------------------------------------- model converters

# Aqara press names → press count; old firmware's `click` used "long"/"long_release" for hold/release.
_AQARA_PRESSES = {"single": 1, "double": 2, "triple": 3, "quadruple": 4, "many": 5, "hold": 1, "long": 1}
_AQARA_RELEASES = frozenset({"release", "long_release"})


def _aqara_button_convert(state: Mapping[str, Any], settings: Mapping[str, Any]) -> Pairs:
    key = "action" if "action" in state else "click" if "click" in state else None
    if key is None or state[key] is None:
        return []
    action = state[key]
    if isinstance(action, str) and action in _AQARA_RELEASES:  # the end of a hold, not another press
        return []
    # Not a string (an object, a list): unhashable, so it is looked up only once it is known to be one.
    count = _AQARA_PRESSES.get(action) if isinstance(action, str) else None
    if count is None:
        raise DeviceError(f"field '{key}' has an unknown button action {action!r}")
    if _button_role(settings) == "sos":
        return [(Signal.SOS, 1.0)]
    return [(Signal.BUTTON, float(count))]


def _button_role(settings: Mapping[str, Any]) -> str:
    role = settings.get("role", "button")
    if role not in ("button", "sos"):
        raise DeviceError(f"setting 'role' must be 'button' or 'sos', got {role!r}")
    return str(role)


def aqara_button() -> Converter:
    """`action` (or old `click`): presses → BUTTON (count); with settings role=sos every press/hold → SOS."""
    return Converter(
        frozenset({Signal.BUTTON, Signal.SOS}),
        _aqara_button_convert,
        lambda settings: m.setting_problem(settings, lambda: _button_role(settings), "role"),
    )


def _tuya_sos_convert(state: Mapping[str, Any], settings: Mapping[str, Any]) -> Pairs:
    action = state.get("action")
    if action is None:
        return []
    if action != "emergency":
        raise DeviceError(f"field 'action' has an unknown SOS action {action!r}")
    return [(Signal.SOS, 1.0)]


def tuya_sos() -> Converter:
    """TS0215A_sos: ``"action":"emergency"`` → SOS 1."""
    return Converter(frozenset({Signal.SOS}), _tuya_sos_convert)


def alarm_unless_test(key: str, signal: Signal, test_key: str) -> Converter:
    """An alarm bool; while the device reports its self-test (`test_key` true) the alarm is not a reading."""

    def convert(state: Mapping[str, Any], settings: Mapping[str, Any]) -> Pairs:
        if state.get(test_key) is True:  # the elder or a visitor pressed the test button: not a fire/leak
            return []
        value = state.get(key)
        return [] if value is None else [(signal, m.as_bool(value, key))]

    return Converter(frozenset({signal}), convert)


_FALL_STATUS = {"none": 0.0, "maybe_fall": 0.5, "fall": 1.0}


def _fall_convert(state: Mapping[str, Any], settings: Mapping[str, Any]) -> Pairs:
    status = state.get("fall_down_status")
    if status is None:
        return []
    value = _FALL_STATUS.get(status) if isinstance(status, str) else None
    if value is None:
        raise DeviceError(f"field 'fall_down_status' must be none/maybe_fall/fall, got {status!r}")
    return [(Signal.FALL, value)]


def fall_down_status() -> Converter:
    """MIR-HE200-TY ``fall_down_status``: fall → 1.0, maybe_fall → 0.5, none → 0.0."""
    return Converter(frozenset({Signal.FALL}), _fall_convert)


def _motion_speed_convert(state: Mapping[str, Any], settings: Mapping[str, Any]) -> Pairs:
    speed = state.get("motion_speed")
    return [] if speed is None else [(Signal.MOTION, 1.0 if m.as_number(speed, "motion_speed") > 0 else 0.0)]


def motion_speed() -> Converter:
    """``motion_speed`` of a radar: any speed above 0 is MOTION 1 (a sign of life), 0 is MOTION 0."""
    return Converter(frozenset({Signal.MOTION}), _motion_speed_convert)


_NO_FAULT = frozenset({"", "none", "normal", "no_fault", "ok"})


def _faults_convert(state: Mapping[str, Any], settings: Mapping[str, Any]) -> Pairs:
    if "faults" not in state or state["faults"] is None:
        return []
    faults = state["faults"]
    if isinstance(faults, str):
        active = [f for f in faults.replace(",", " ").split() if f.lower() not in _NO_FAULT]
    elif isinstance(faults, list) and all(isinstance(f, str) for f in faults):
        active = [f for f in faults if f.lower() not in _NO_FAULT]
    elif type(faults) is int:  # a raw fault bitmap
        active = ["bitmap"] if faults else []
    else:
        raise DeviceError(f"field 'faults' must be a string, a list of strings or a bitmap, got {faults!r}")
    return [(Signal.WATER_STATUS, 1.0 if active else 0.0)]


def water_faults() -> Converter:
    """TS0601_water_valve ``faults``: any fault → WATER_STATUS 1, none → 0."""
    return Converter(frozenset({Signal.WATER_STATUS}), _faults_convert)


# ---------------------------------------------------------------------------------------------- models

DEFINITIONS: tuple[DeviceDefinition, ...] = (
    z2m_device(
        "WXKG11LM",
        "Aqara",
        "Aqara wireless mini switch. Presses (single…quadruple, hold) are BUTTON with the press count: a sign "
        "of life, not an emergency. With settings {'role': 'sos'} the button is the elder's SOS button and "
        "every press or hold is SOS 1. 'release' after a hold is nothing. Old firmware's 'click' is accepted.",
        aqara_button(),
        m.battery(),
        m.device_temperature(),
    ),
    z2m_device(
        "TS0215A_sos",
        "TuYa",
        "Tuya SOS emergency button: action 'emergency' → SOS 1; 'battery': null is skipped.",
        tuya_sos(),
        m.battery(),
    ),
    z2m_device(
        "SJCGQ11LM",
        "Aqara",
        "Aqara water leak sensor: water_leak → LEAK, battery_low, battery, device_temperature.",
        m.boolean("water_leak", Signal.LEAK),
        m.battery_low(),
        m.battery(),
        m.device_temperature(),
    ),
    z2m_device(
        "RTCGQ11LM",
        "Aqara",
        "Aqara motion sensor: occupancy → MOTION (Zigbee2MQTT itself resets it after 90 s), illuminance "
        "(old name illuminance_lux) → ILLUMINANCE.",
        m.boolean("occupancy", Signal.MOTION),
        m.number("illuminance", Signal.ILLUMINANCE, "illuminance_lux"),
        m.battery(),
        m.device_temperature(),
    ),
    z2m_device(
        "MCCGQ11LM",
        "Aqara",
        "Aqara door/window sensor: Aqara's contact is true when CLOSED; we invert it so CONTACT 1 = open.",
        m.boolean("contact", Signal.CONTACT, invert=True),
        m.battery(),
        m.device_temperature(),
    ),
    z2m_device(
        "JTQJ-BF-01LM/BW",
        "Xiaomi",
        "Mijia gas leak detector: gas → GAS. While 'selftest' is true the alarm is a test and gives no GAS "
        "reading. gas_density (0–255, no unit) is not a signal.",
        alarm_unless_test("gas", Signal.GAS, "selftest"),
    ),
    z2m_device(
        "JTYJ-GD-01LM/BW",
        "Xiaomi",
        "Mijia smoke detector: smoke → SMOKE. A message with 'test': true is the self-test: it gives no SMOKE "
        "reading (battery and battery_low still count). smoke_density is not a signal.",
        alarm_unless_test("smoke", Signal.SMOKE, "test"),
        m.battery(),
        m.battery_low(),
    ),
    z2m_device(
        "TS0601_smart_human_presence_sensor",
        "TuYa",
        "Tuya mmWave presence sensor: presence → PRESENCE, illuminance_lux → ILLUMINANCE; target_distance "
        "is not a signal.",
        m.boolean("presence", Signal.PRESENCE),
        m.number("illuminance_lux", Signal.ILLUMINANCE, "illuminance"),
    ),
    z2m_device(
        "MIR-HE200-TY",
        "TuYa",
        "Tuya fall-detection radar: fall_down_status fall/maybe_fall/none → FALL 1.0/0.5/0.0, presence → "
        "PRESENCE, motion_speed > 0 → MOTION 1.",
        fall_down_status(),
        m.boolean("presence", Signal.PRESENCE),
        motion_speed(),
    ),
    z2m_device(
        "TS0601_water_valve",
        "TuYa",
        "Tuya ultrasonic water meter/valve: water_consumed (L, cumulative) → WATER_TOTAL, flow_rate (L/h) → "
        "WATER_FLOW, faults → WATER_STATUS. daily_consumption is derived, not a signal.",
        m.number("water_consumed", Signal.WATER_TOTAL),
        m.number("flow_rate", Signal.WATER_FLOW),
        water_faults(),
    ),
)
