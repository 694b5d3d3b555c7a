"""Shelly Gen2 devices on ``<id>/events/rpc`` (``{"src", "method", "params"}``).

NotifyEvent: input events. single_push / double_push / triple_push / long_push are presses → BUTTON with
the press count, unless the event name is listed in ``settings["sos_events"]`` (e.g. ``["long_push"]``),
then → SOS 1. btn_down / btn_up are the edges of those same presses and give no reading unless listed in
``sos_events``. Events of other components (sys, ota…) are not readings.

NotifyStatus / NotifyFullStatus: what is there is read from instance 0 of each component: switch:0 apower
(W) → POWER and aenergy.total (Wh) → ENERGY_TOTAL in kWh, temperature:0 tC → TEMPERATURE, devicepower:0
battery.percent → BATTERY. ``params.ts`` (epoch seconds) is the reading time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.devices import convert as m
from hub.devices.ecosystems import SHELLY
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.models import Reading, Signal

_PRESSES = {"single_push": 1.0, "double_push": 2.0, "triple_push": 3.0, "long_push": 1.0}
_STATUS_METHODS = frozenset({"NotifyStatus", "NotifyFullStatus"})


def _sos_events(settings: Mapping[str, Any]) -> frozenset[str]:
    events = settings.get("sos_events", ())
    if not isinstance(events, list | tuple) or not all(isinstance(e, str) for e in events):
        raise DeviceError(f"setting 'sos_events' must be a list of event names, got {events!r}")
    return frozenset(events)


def _check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    return m.setting_problem(settings, lambda: _sos_events(settings), "sos_events")


def _events(params: Mapping[str, Any], settings: Mapping[str, Any]) -> m.Pairs:
    events = params.get("events")
    if not isinstance(events, list):
        raise DeviceError(f"shelly NotifyEvent: field 'params.events' must be a list, got {events!r}")
    sos_events = _sos_events(settings)
    pairs: m.Pairs = []
    for event in events:
        if not isinstance(event, dict):
            raise DeviceError(f"shelly NotifyEvent: an event must be an object, got {event!r}")
        component = event.get("component")
        name = event.get("event")
        if not isinstance(component, str) or not isinstance(name, str):
            raise DeviceError(
                f"shelly NotifyEvent: event needs 'component' and 'event' strings, got {event!r}"
            )
        if not component.startswith("input:"):
            continue
        if name in sos_events:
            pairs.append((Signal.SOS, 1.0))
        elif name in _PRESSES:
            pairs.append((Signal.BUTTON, _PRESSES[name]))
    return pairs


def _component(params: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = params.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DeviceError(f"shelly status: field 'params.{key}' must be an object, got {value!r}")
    return value


def _status(params: Mapping[str, Any]) -> m.Pairs:
    pairs: m.Pairs = []
    switch = _component(params, "switch:0")
    if switch.get("apower") is not None:
        pairs.append((Signal.POWER, m.as_number(switch["apower"], "switch:0.apower")))
    aenergy = switch.get("aenergy")
    if isinstance(aenergy, dict) and aenergy.get("total") is not None:
        pairs.append((Signal.ENERGY_TOTAL, m.as_number(aenergy["total"], "switch:0.aenergy.total") / 1000.0))
    temperature = _component(params, "temperature:0")
    if temperature.get("tC") is not None:
        pairs.append((Signal.TEMPERATURE, m.as_number(temperature["tC"], "temperature:0.tC")))
    battery = _component(params, "devicepower:0").get("battery")
    if isinstance(battery, dict) and battery.get("percent") is not None:
        pairs.append((Signal.BATTERY, m.as_number(battery["percent"], "devicepower:0.battery.percent")))
    return pairs


def _decode_gen2(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
    frame = m.parse_json_object(payload, "shelly events/rpc")
    method = frame.get("method")
    params = frame.get("params")
    if not isinstance(params, dict):
        raise DeviceError(f"shelly events/rpc: field 'params' must be an object, got {params!r}")
    ts = received_at if params.get("ts") is None else m.parse_epoch_seconds(params["ts"], "params.ts")
    if method == "NotifyEvent":
        pairs = _events(params, binding.settings)
    elif isinstance(method, str) and method in _STATUS_METHODS:  # an object or a list is no method name
        pairs = _status(params)
    else:
        raise DeviceError(f"shelly events/rpc: unknown method {method!r}")
    return m.readings(binding, pairs, ts)


DEFINITIONS: tuple[DeviceDefinition, ...] = (
    DeviceDefinition(
        ecosystem=SHELLY,
        model="gen2",
        vendor="Shelly",
        description=(
            "Any Shelly Gen2 device (Plus i4, Plus 1PM, Plus H&T…). Input pushes → BUTTON (press count); "
            "events named in settings 'sos_events' → SOS 1; btn_down/btn_up edges give nothing. Status: "
            "switch:0 apower → POWER, aenergy.total Wh → ENERGY_TOTAL kWh, temperature:0 → TEMPERATURE, "
            "devicepower:0 battery → BATTERY."
        ),
        decode=_decode_gen2,
        check_settings=_check_settings,
        exposes=frozenset(
            {Signal.BUTTON, Signal.SOS, Signal.POWER, Signal.ENERGY_TOTAL, Signal.TEMPERATURE, Signal.BATTERY}
        ),
    ),
)
