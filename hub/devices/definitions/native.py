"""The hub's own DIY scheme (docs/topics.md), over MQTT and the HTTP ingest endpoint.

MQTT: ``eldercare/<device_id>/<signal>`` where ``<signal>`` is a `Signal` value; the payload is a plain
number, ``ON``/``OFF``, ``true``/``false``, or JSON ``{"value": <number|bool>, "ts": "<ISO-8601 with zone>"}``
(``ts`` optional → time of receipt). ``eldercare/<device_id>/status`` carries ``online``/``offline``.

HTTP: `decode_native_json` takes the parsed body, ``{"signal", "value", "ts"?}`` or a list of those.

A native model is only the set of signals the device may send; a signal outside it is refused, so a
misconfigured device shows up in quarantine instead of writing readings nobody expects.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from hub.devices import convert as m
from hub.devices.ecosystems import NATIVE
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.devices.ranges import BOOLEAN_SIGNALS
from hub.models import Reading, Signal

_SIGNALS = {signal.value: signal for signal in Signal}
_WORDS = {"on": 1.0, "off": 0.0, "true": 1.0, "false": 0.0}


def _value(value: Any, field: str, signal: Signal) -> float:
    if value is True or value is False:
        # `true` is a state, not a measurement: a heart rate of `true` must not become 1 bpm.
        if signal not in BOOLEAN_SIGNALS:
            raise DeviceError(f"field '{field}': {signal.value} must be a number, got {value!r}")
        return 1.0 if value else 0.0
    return m.as_number(value, field)


def _signal(name: Any, model: str, exposes: frozenset[Signal]) -> Signal:
    signal = _SIGNALS.get(name) if isinstance(name, str) else None
    if signal is None:
        raise DeviceError(f"native: unknown signal {name!r}")
    if signal not in exposes:
        raise DeviceError(f"native: model {model} does not send signal {name!r}")
    return signal


def _parse_value_payload(
    payload: bytes, what: str, signal: Signal, received_at: datetime
) -> tuple[float, datetime]:
    text = m.payload_text(payload, what)
    if text.startswith("{"):
        obj = m.parse_json_object(payload, what)
        if "value" not in obj:
            raise DeviceError(f"{what}: JSON payload needs a 'value' field")
        ts = received_at if obj.get("ts") is None else _timestamp(obj["ts"])
        return _value(obj["value"], "value", signal), ts
    word = _WORDS.get(text.lower())
    if word is not None:
        if signal not in BOOLEAN_SIGNALS:
            raise DeviceError(f"{what}: {signal.value} must be a number, got {text!r}")
        return word, received_at
    try:
        number = float(text)
    except ValueError as exc:
        raise DeviceError(
            f"{what}: payload must be a number, ON/OFF, true/false or JSON, got {text!r}"
        ) from exc
    if not math.isfinite(number):
        raise DeviceError(f"{what}: value is not finite: {text!r}")
    return number, received_at


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):  # the scheme promises ISO-8601 text; epoch numbers are ambiguous (s or ms)
        raise DeviceError(f"field 'ts' must be an ISO-8601 string with a time zone, got {value!r}")
    return m.parse_timestamp(value, "ts")


# The HTTP ingest endpoint hands its body over as ``eldercare/<device id>/http`` (never an MQTT signal name).
HTTP_CHANNEL = "http"


def native_device(model: str, description: str, exposes: frozenset[Signal]) -> DeviceDefinition:
    """A native-scheme model: the signals such a device may send (AVAILABILITY via ``status`` always)."""
    exposes = exposes | {Signal.AVAILABILITY}
    what = f"native {model}"

    def decode(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
        if route.channel == "status":
            value = m.parse_availability(payload, f"{what} status")
            return [Reading(binding.home, binding.device, Signal.AVAILABILITY, value, received_at)]
        if route.channel == HTTP_CHANNEL:
            return decode_native_json(m.parse_json(payload, f"{what} HTTP body"), binding, received_at)
        signal = _signal(route.channel, model, exposes)
        value, ts = _parse_value_payload(payload, f"{what} {route.channel}", signal, received_at)
        return [Reading(binding.home, binding.device, signal, value, ts)]

    return DeviceDefinition(
        ecosystem=NATIVE,
        model=model,
        vendor="eldercare",
        description=description,
        decode=decode,
        exposes=exposes,
    )


DEFINITIONS: tuple[DeviceDefinition, ...] = (
    native_device(
        "generic",
        "Any DIY device speaking the native scheme; it may send every signal.",
        frozenset(Signal),
    ),
    native_device(
        "health_monitor",
        "A home health monitor (blood-pressure cuff, oximeter, thermometer hub) bridged to the native scheme: "
        "heart_rate (bpm), spo2 (%), bp_systolic / bp_diastolic (mmHg), body_temp (°C), weight (kg), battery.",
        frozenset(
            {
                Signal.HEART_RATE,
                Signal.SPO2,
                Signal.BP_SYSTOLIC,
                Signal.BP_DIASTOLIC,
                Signal.BODY_TEMP,
                Signal.WEIGHT,
                Signal.BATTERY,
            }
        ),
    ),
    native_device(
        "sos_button",
        "A DIY call button: sos 1 = help requested (0 = cancelled by the elder), button = ordinary press.",
        frozenset({Signal.SOS, Signal.BUTTON, Signal.BATTERY}),
    ),
)

_BY_MODEL = {definition.model: definition for definition in DEFINITIONS}


def decode_native_json(obj: Any, binding: Binding, received_at: datetime) -> list[Reading]:
    """Readings from an HTTP ingest body: ``{"signal": ..., "value": ..., "ts": ...}`` or a list of those.

    Pure; raises `DeviceError` naming the bad item and field. ``ts`` is optional (→ `received_at`).
    """
    definition = _BY_MODEL.get(binding.model)
    if definition is None:
        raise DeviceError(f"native: device {binding.device} has model {binding.model!r}, not a native model")
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        raise DeviceError("native: the body is an empty list")
    out: list[Reading] = []
    for index, item in enumerate(items):
        where = f"item {index}" if isinstance(obj, list) else "body"
        if not isinstance(item, dict):
            raise DeviceError(f"native: {where} must be a JSON object, got {type(item).__name__}")
        if "value" not in item:
            raise DeviceError(f"native: {where} needs a 'value' field")
        signal = _signal(item.get("signal"), binding.model, definition.exposes)
        value = _value(item["value"], f"{where}.value", signal)
        ts = received_at if item.get("ts") is None else _timestamp(item["ts"])
        out.append(Reading(binding.home, binding.device, signal, value, ts))
    return out
