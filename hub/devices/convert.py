"""Small shared converters, composed into device definitions (never inherited).

A `Converter` bundles *what it reads* (a pure function over a decoded JSON object) with *what it exposes*
(the signals it can produce), in the spirit of zigbee-herdsman-converters' ``m.battery()``: a definition lists
its converters and its `exposes` is the union of theirs, so the two can never drift apart.

The value helpers (`as_number`, `as_bool`, `parse_timestamp`, …) raise `DeviceError` with the field named,
so a quarantined message tells the operator exactly what was wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.devices.errors import DeviceError
from hub.devices.model import Binding, SettingsCheck
from hub.models import Reading, Signal

# What a converter yields: (signal, value) pairs; the definition turns them into `Reading`s.
Pairs = list[tuple[Signal, float]]
# (decoded JSON object, binding settings) -> pairs
ConvertFn = Callable[[Mapping[str, Any], Mapping[str, Any]], Pairs]


@dataclass(frozen=True, slots=True)
class Converter:
    """One capability of a device: a pure field reader plus the signals it may produce."""

    exposes: frozenset[Signal]
    convert: ConvertFn
    check: SettingsCheck | None = None  # what it needs of the binding's settings


def checks_of(converters: Iterable[Converter]) -> SettingsCheck | None:
    """One settings check running those of `converters` (None when none has one)."""
    checks = [c.check for c in converters if c.check is not None]
    if not checks:
        return None

    def check(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [problem for one in checks for problem in one(settings)]

    return check


def setting_problem(
    settings: Mapping[str, Any], read: Callable[[], object], name: str
) -> list[tuple[str, str]]:
    """`read()`'s `DeviceError` as a settings problem of `name` (only when `name` is set at all)."""
    if name not in settings:
        return []
    try:
        read()
    except DeviceError as exc:
        return [(f"settings.{name}", str(exc))]
    return []


def exposes_of(converters: Iterable[Converter], *extra: Signal) -> frozenset[Signal]:
    """The union of what `converters` expose, plus `extra` signals handled outside them."""
    out: set[Signal] = set(extra)
    for converter in converters:
        out |= converter.exposes
    return frozenset(out)


# ---------------------------------------------------------------------------------------------- values


def as_number(value: Any, field: str) -> float:
    """`value` as a finite float; JSON booleans and strings are refused (they mean a wrong field)."""
    kind = type(value)
    if kind is int or kind is float:
        number = float(value)
        if math.isfinite(number):
            return number
        raise DeviceError(f"field '{field}' is not a finite number: {value!r}")
    raise DeviceError(f"field '{field}' must be a number, got {value!r}")


def as_bool(value: Any, field: str) -> float:
    """A JSON boolean as 1.0 / 0.0; anything else is an error naming the field."""
    if value is True:
        return 1.0
    if value is False:
        return 0.0
    raise DeviceError(f"field '{field}' must be true or false, got {value!r}")


def parse_timestamp(value: Any, field: str) -> datetime:
    """An ISO-8601 string *with* a time zone, or epoch milliseconds, as an aware UTC datetime."""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError as exc:
            raise DeviceError(f"field '{field}' is not an ISO-8601 time: {value!r}") from exc
        if when.tzinfo is None:
            raise DeviceError(f"field '{field}' has no time zone: {value!r}")
        return when.astimezone(UTC)
    if type(value) is int or type(value) is float:
        try:
            return datetime.fromtimestamp(value / 1000.0, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise DeviceError(f"field '{field}' is not a valid epoch-ms time: {value!r}") from exc
    raise DeviceError(f"field '{field}' must be an ISO-8601 string or epoch ms, got {value!r}")


def parse_epoch_seconds(value: Any, field: str) -> datetime:
    """Epoch seconds (int or float, as Shelly sends them) as an aware UTC datetime."""
    seconds = as_number(value, field)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise DeviceError(f"field '{field}' is not a valid epoch time: {value!r}") from exc


def json_document(data: bytes | str) -> Any:
    """The JSON document in `data`; `ValueError` (or `UnicodeDecodeError`) from the standard parser if none.

    orjson reads strict UTF-8 JSON several times faster than the standard parser; what it refuses (a NaN
    literal, UTF-16, a byte-order mark, an integer beyond 64 bits) gets the standard parser's second look, so
    the hub accepts exactly what it always did.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def parse_json(payload: bytes, what: str) -> Any:
    """The JSON document of a payload, with a clear error naming the message kind."""
    try:
        return json_document(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeviceError(f"{what}: payload is not valid JSON ({exc})") from exc


def parse_json_object(payload: bytes, what: str) -> dict[str, Any]:
    """A JSON object payload (most ecosystems send one per message)."""
    obj = parse_json(payload, what)
    if not isinstance(obj, dict):
        raise DeviceError(f"{what}: payload must be a JSON object, got {type(obj).__name__}")
    return obj


def payload_text(payload: bytes, what: str) -> str:
    """A short text payload (LWT, ESPHome states) decoded as UTF-8 and stripped."""
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise DeviceError(f"{what}: payload is not UTF-8 text") from exc


_AVAILABILITY_WORDS = {"online": 1.0, "offline": 0.0}


def parse_availability(payload: bytes, what: str) -> float:
    """`online`/`offline`, plain (Zigbee2MQTT 1.x, ESPHome, Tasmota LWT) or as ``{"state": "online"}``."""
    text = payload_text(payload, what)
    if text.startswith("{"):
        # Its own name: compiled (hub/native.py), a non-string assigned to `text` would be a TypeError.
        state = parse_json_object(payload, what).get("state", "")
        if not isinstance(state, str):
            raise DeviceError(f"{what}: field 'state' must be online/offline, got {state!r}")
        text = state
    value = _AVAILABILITY_WORDS.get(text.lower())
    if value is None:
        raise DeviceError(f"{what}: availability must be online or offline, got {text!r}")
    return value


def setting_number(settings: Mapping[str, Any], name: str, model: str) -> float:
    """A required positive numeric setting of a binding, with an error saying which model needs it."""
    if name not in settings:
        raise DeviceError(f"model {model} needs setting '{name}' in the device register")
    value = settings[name]
    if type(value) not in (int, float) or not (value > 0 and math.isfinite(value)):
        raise DeviceError(f"setting '{name}' of model {model} must be a positive number, got {value!r}")
    return float(value)


def readings(binding: Binding, pairs: Iterable[tuple[Signal, float]], ts: datetime) -> list[Reading]:
    """Stamp (signal, value) pairs with the binding's home/device and one timestamp."""
    home = binding.home
    device = binding.device
    return [Reading(home, device, signal, value, ts) for signal, value in pairs]


# ------------------------------------------------------------------------------------------ converters


def number(key: str, signal: Signal, *aliases: str, scale: float = 1.0) -> Converter:
    """A numeric field (first of `key`, then `aliases` – old names) times `scale`; JSON null is skipped."""
    keys = (key, *aliases)

    def convert(state: Mapping[str, Any], settings: Mapping[str, Any]) -> Pairs:
        for name in keys:
            if name in state:
                value = state[name]
                if value is None:  # e.g. Tuya's "battery": null — unknown, not zero
                    return []
                if type(value) is float and not math.isfinite(value):
                    # A NaN field (a garbled sensor): the range check refuses this reading alone, so an SOS
                    # press in the same message still counts.
                    return [(signal, value)]
                return [(signal, as_number(value, name) * scale)]
        return []

    return Converter(frozenset({signal}), convert)


def boolean(key: str, signal: Signal, *, invert: bool = False) -> Converter:
    """A boolean field as 1.0/0.0 (inverted when the device's sense is the opposite of ours)."""

    def convert(state: Mapping[str, Any], settings: Mapping[str, Any]) -> Pairs:
        if key not in state or state[key] is None:
            return []
        value = as_bool(state[key], key)
        return [(signal, 1.0 - value if invert else value)]

    return Converter(frozenset({signal}), convert)


def battery() -> Converter:
    """Battery charge in % (`battery`)."""
    return number("battery", Signal.BATTERY)


def battery_low() -> Converter:
    """The device's own low-battery flag (`battery_low`)."""
    return boolean("battery_low", Signal.BATTERY_LOW)


def linkquality() -> Converter:
    """Zigbee link quality 0–255 (`linkquality`)."""
    return number("linkquality", Signal.LINK_QUALITY)


def device_temperature() -> Converter:
    """The chip temperature some Aqara devices report (`device_temperature`), as TEMPERATURE."""
    return number("device_temperature", Signal.TEMPERATURE)
