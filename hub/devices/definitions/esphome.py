"""ESPHome nodes over the MQTT component.

An ESPHome node is programmed by its owner, so which object means which signal is configuration, not model:
``settings["objects"]`` maps object_id → signal name (or ``"ignore"``). Without a mapping, the object id is
read by convention (tokens split on ``_``/``-``), see `conventional_signal`. Objects that neither map nor
match a convention (wifi_signal, uptime, …) are not readings and decode to ``[]``.

Values: ``sensor/…`` states are a number as text (``nan`` = unknown → no reading); ``binary_sensor/…``
states are ``ON``/``OFF`` (ESPHome's door/window ON = open, the same sense as our CONTACT).
Water totals (``pulse_meter`` ``total`` sub-sensor) are multiplied by ``settings["litres_per_unit"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from hub.devices import convert as m
from hub.devices.ecosystems import ESPHOME
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.models import Reading, Signal

_NODE_EXPOSES = frozenset(
    {
        Signal.WATER_TOTAL,
        Signal.WATER_FLOW,
        Signal.SOS,
        Signal.MOTION,
        Signal.PRESENCE,
        Signal.CONTACT,
        Signal.LEAK,
        Signal.GAS,  # a gas or smoke detector's binary_sensor, mapped in settings 'objects'
        Signal.SMOKE,
        Signal.OCCUPANCY,
        Signal.TEMPERATURE,
        Signal.WEIGHT,  # xiaomi_miscale on an ESP32 BLE tracker: a bathroom scale's weight in kg
        Signal.BATTERY,
        Signal.AVAILABILITY,
    }
)

# (component, token rule, signal): the first rule whose tokens are all in the object id wins.
_CONVENTIONS: tuple[tuple[str, frozenset[str], Signal], ...] = (
    ("sensor", frozenset({"water", "total"}), Signal.WATER_TOTAL),
    ("sensor", frozenset({"temperature"}), Signal.TEMPERATURE),
    ("sensor", frozenset({"temp"}), Signal.TEMPERATURE),
    ("sensor", frozenset({"battery"}), Signal.BATTERY),
    ("sensor", frozenset({"weight"}), Signal.WEIGHT),
    ("binary_sensor", frozenset({"sos"}), Signal.SOS),
    ("binary_sensor", frozenset({"emergency"}), Signal.SOS),
    ("binary_sensor", frozenset({"button"}), Signal.SOS),
    ("binary_sensor", frozenset({"pir"}), Signal.MOTION),
    ("binary_sensor", frozenset({"motion"}), Signal.MOTION),
    ("binary_sensor", frozenset({"presence"}), Signal.PRESENCE),
    ("binary_sensor", frozenset({"mmwave"}), Signal.PRESENCE),
    ("binary_sensor", frozenset({"door"}), Signal.CONTACT),
    ("binary_sensor", frozenset({"window"}), Signal.CONTACT),
    ("binary_sensor", frozenset({"contact"}), Signal.CONTACT),
    ("binary_sensor", frozenset({"leak"}), Signal.LEAK),
    ("binary_sensor", frozenset({"bed"}), Signal.OCCUPANCY),
    ("binary_sensor", frozenset({"occupancy"}), Signal.OCCUPANCY),
)


@lru_cache(maxsize=4096)
def conventional_signal(component: str, object_id: str) -> Signal | None:
    """The signal an object id means by convention, e.g. ``water_total`` → WATER_TOTAL, ``hall_pir`` → MOTION,
    ``sos_button`` → SOS; ``None`` when no convention applies."""
    tokens = frozenset(object_id.lower().replace("-", "_").split("_"))
    for rule_component, rule, signal in _CONVENTIONS:
        if rule_component == component and rule <= tokens:
            return signal
    return None


def _object_signal(component: str, object_id: str, settings: Mapping[str, Any]) -> Signal | None:
    objects = settings.get("objects", {})
    if not isinstance(objects, Mapping):
        raise DeviceError(f"setting 'objects' must map object_id → signal, got {objects!r}")
    name = objects.get(object_id)
    if name is None:
        return conventional_signal(component, object_id)
    if name == "ignore":
        return None
    try:
        signal = Signal(name)
    except ValueError as exc:
        raise DeviceError(f"setting objects[{object_id!r}] is not a signal name: {name!r}") from exc
    if signal not in _NODE_EXPOSES:
        raise DeviceError(f"setting objects[{object_id!r}]: signal {name!r} is not supported for ESPHome")
    return signal


def _check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every `objects` entry names a signal an ESPHome node can send; water totals have `litres_per_unit`."""
    objects = settings.get("objects", {})
    if not isinstance(objects, Mapping):
        return [("settings.objects", f"must map object_id → signal name, got {objects!r}")]
    problems: list[tuple[str, str]] = []
    for object_id, name in objects.items():
        if name == "ignore":
            continue
        try:
            signal = Signal(name)
        except ValueError:
            signal = None
        if signal not in _NODE_EXPOSES:
            known = ", ".join(sorted(s.value for s in _NODE_EXPOSES if s != Signal.AVAILABILITY))
            problems.append(
                (
                    f"settings.objects.{object_id}",
                    f"{name!r} is not a signal of an ESPHome node (one of: {known}, ignore)",
                )
            )
    if Signal.WATER_TOTAL.value in objects.values() and "litres_per_unit" not in settings:
        problems.append(
            ("settings.litres_per_unit", "an object is mapped to water_total, which needs litres_per_unit")
        )
    problems += m.setting_problem(
        settings, lambda: m.setting_number(settings, "litres_per_unit", "esphome node"), "litres_per_unit"
    )
    return problems


def _decode_node(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
    channel = route.channel
    if channel == "status":
        value = m.parse_availability(payload, "esphome status")
        return [Reading(binding.home, binding.device, Signal.AVAILABILITY, value, received_at)]
    component, _, object_id = channel.partition("/")
    signal = _object_signal(component, object_id, binding.settings)
    if signal is None:
        return []
    text = m.payload_text(payload, f"esphome {channel}")
    if component == "binary_sensor":
        upper = text.upper()
        if upper not in ("ON", "OFF"):
            raise DeviceError(f"esphome {channel}: binary state must be ON or OFF, got {text!r}")
        value = 1.0 if upper == "ON" else 0.0
    elif component == "sensor":
        try:
            value = float(text)
        except ValueError as exc:
            raise DeviceError(f"esphome {channel}: state is not a number: {text!r}") from exc
        if math.isnan(value):  # ESPHome publishes "nan" while a sensor has no value yet
            return []
        if not math.isfinite(value):
            raise DeviceError(f"esphome {channel}: state is not finite: {text!r}")
        if signal is Signal.WATER_TOTAL:
            value *= m.setting_number(binding.settings, "litres_per_unit", "esphome node")
    else:
        raise DeviceError(f"esphome: unknown channel {channel!r}")
    return [Reading(binding.home, binding.device, signal, value, received_at)]


DEFINITIONS: tuple[DeviceDefinition, ...] = (
    DeviceDefinition(
        ecosystem=ESPHOME,
        model="node",
        vendor="ESPHome",
        description=(
            "Any ESPHome node. settings 'objects' maps object_id → signal (or 'ignore'); otherwise by "
            "convention: sensor water+total → WATER_TOTAL (× settings 'litres_per_unit', required then), "
            "temperature/temp → TEMPERATURE, battery → BATTERY, weight → WEIGHT (kg, e.g. xiaomi_miscale); binary_sensor sos/emergency/button → SOS, "
            "pir/motion → MOTION, presence/mmwave → PRESENCE, door/window/contact → CONTACT (ON = open), "
            "leak → LEAK, bed/occupancy → OCCUPANCY. Unmapped objects give no reading. status → AVAILABILITY."
        ),
        decode=_decode_node,
        exposes=_NODE_EXPOSES,
        check_settings=_check_settings,
    ),
)
