"""wmbusmeters (wireless M-Bus) water meters: one JSON object per telegram on ``wmbusmeters/<meter id>``.

``total_m3`` → WATER_TOTAL in litres. ``timestamp`` (ISO-8601 UTC) is the reading time. Status flags
(``status`` and the older ``current_status``: DRY, REVERSE, LEAK, BURST, TAMPER, LOW_BATTERY…, "OK" or empty =
clear) and izar's ``current_alarms`` (leakage, back_flow, meter_blocked…, "no_alarm" = clear) → WATER_STATUS
1/0, and LEAK 1/0 for leak/burst/leakage. Newer field names carry a unit suffix (``external_temperature_c``),
older ones do not (``external_temperature``); both are read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hub.devices import convert as m
from hub.devices.ecosystems import WMBUSMETERS
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.models import Reading, Signal

FieldFn = Callable[[Mapping[str, Any]], m.Pairs]

_CLEAR_FLAGS = frozenset({"", "OK", "NO_ALARM"})
_LEAK_FLAGS = frozenset({"LEAK", "BURST", "LEAKAGE"})


def _flags(value: Any, field: str) -> set[str]:
    if not isinstance(value, str):
        raise DeviceError(f"field '{field}' must be a text of flags, got {value!r}")
    return {flag.upper() for flag in value.replace(",", " ").split()}


def _total(telegram: Mapping[str, Any]) -> m.Pairs:
    total = telegram.get("total_m3")
    return [] if total is None else [(Signal.WATER_TOTAL, m.as_number(total, "total_m3") * 1000.0)]


def _status(*fields: str) -> FieldFn:
    """WATER_STATUS and LEAK from the union of the flag `fields` that are present."""

    def read(telegram: Mapping[str, Any]) -> m.Pairs:
        present = [f for f in fields if telegram.get(f) is not None]
        if not present:
            return []
        flags: set[str] = set()
        for field in present:
            flags |= _flags(telegram[field], field)
        alarm = 1.0 if flags - _CLEAR_FLAGS else 0.0
        leak = 1.0 if flags & _LEAK_FLAGS else 0.0
        return [(Signal.WATER_STATUS, alarm), (Signal.LEAK, leak)]

    return read


def _external_temperature(telegram: Mapping[str, Any]) -> m.Pairs:
    # The ambient temperature at the meter (often the flat itself). flow_temperature is the water's and
    # multical21 sends 127 when it has none, so it is not a reading of the room.
    for field in ("external_temperature_c", "external_temperature"):
        if telegram.get(field) is not None:
            return [(Signal.TEMPERATURE, m.as_number(telegram[field], field))]
    return []


def wmbus_meter(
    model: str, vendor: str, description: str, exposes: frozenset[Signal], *fields: FieldFn
) -> DeviceDefinition:
    """A wmbusmeters driver's JSON from its field readers."""
    what = f"wmbusmeters {model}"

    def decode(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
        telegram = m.parse_json_object(payload, what)
        kind = telegram.get("_", "telegram")
        if kind != "telegram":
            raise DeviceError(f"{what}: field '_' must be 'telegram', got {kind!r}")
        stamp = telegram.get("timestamp")
        ts = received_at if stamp is None else m.parse_timestamp(stamp, "timestamp")
        pairs: m.Pairs = []
        for read in fields:
            pairs += read(telegram)
        return m.readings(binding, pairs, ts)

    return DeviceDefinition(
        ecosystem=WMBUSMETERS,
        model=model,
        vendor=vendor,
        description=description,
        decode=decode,
        exposes=exposes,
    )


_WATER = frozenset({Signal.WATER_TOTAL, Signal.WATER_STATUS, Signal.LEAK})

DEFINITIONS: tuple[DeviceDefinition, ...] = (
    wmbus_meter(
        "iperl",
        "Sensus",
        "Sensus iPERL water meter: total_m3 → WATER_TOTAL (L); status flags (newer wmbusmeters) → "
        "WATER_STATUS/LEAK.",
        _WATER,
        _total,
        _status("status"),
    ),
    wmbus_meter(
        "multical21",
        "Kamstrup",
        "Kamstrup Multical 21 (driver multical21/kamwater): total_m3 → WATER_TOTAL (L); status and old "
        "current_status flags (DRY, REVERSE, LEAK, BURST, TAMPER, LOW_BATTERY; OK = clear) → WATER_STATUS, "
        "LEAK/BURST → LEAK; external_temperature(_c) → TEMPERATURE.",
        _WATER | {Signal.TEMPERATURE},
        _total,
        _status("status", "current_status"),
        _external_temperature,
    ),
    wmbus_meter(
        "izar",
        "Diehl",
        "Diehl IZAR water meter: total_m3 → WATER_TOTAL (L); current_alarms (no_alarm = clear; leakage → "
        "LEAK; back_flow, meter_blocked, underflow… → WATER_STATUS 1).",
        _WATER,
        _total,
        _status("current_alarms"),
    ),
)
