"""Tasmota device models: pulse-counter water meter and energy meter.

Channels: SENSOR (JSON telemetry), STATE (JSON device state — uptime, Wi-Fi — no readings for us) and LWT
(plain ``Online``/``Offline``, retained) → AVAILABILITY. Tasmota's ``Time`` is local time without a zone
unless ``SetOption52 1`` is set, so it is used only when it carries a zone; otherwise the time of receipt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from hub.devices import convert as m
from hub.devices.ecosystems import TASMOTA
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route, SettingsCheck
from hub.models import Reading, Signal

# (SENSOR object, settings, model) -> pairs
SensorFn = Callable[[Mapping[str, Any], Mapping[str, Any], str], m.Pairs]


def _sensor_time(sensor: Mapping[str, Any], received_at: datetime) -> datetime:
    time = sensor.get("Time")
    if not isinstance(time, str):
        return received_at
    try:
        when = datetime.fromisoformat(time)
    except ValueError as exc:
        raise DeviceError(f"field 'Time' is not an ISO-8601 time: {time!r}") from exc
    return received_at if when.tzinfo is None else when.astimezone(UTC)


def tasmota_device(
    model: str,
    vendor: str,
    description: str,
    sensor: SensorFn,
    exposes: frozenset[Signal],
    required: frozenset[str],
    check_settings: SettingsCheck | None = None,
) -> DeviceDefinition:
    """A Tasmota model from its SENSOR reader; LWT and STATE handling are the same for every model."""
    what = f"tasmota {model}"

    def decode(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
        channel = route.channel
        if channel == "SENSOR":
            obj = m.parse_json_object(payload, what)
            ts = _sensor_time(obj, received_at)
            return m.readings(binding, sensor(obj, binding.settings, model), ts)
        if channel == "LWT":
            value = m.parse_availability(payload, what)
            return [Reading(binding.home, binding.device, Signal.AVAILABILITY, value, received_at)]
        if channel == "STATE":
            m.parse_json_object(payload, what)  # still refuse garbage, but STATE holds no reading we use
            return []
        raise DeviceError(f"{what}: unknown channel {channel!r}")

    return DeviceDefinition(
        ecosystem=TASMOTA,
        model=model,
        vendor=vendor,
        description=description,
        decode=decode,
        exposes=exposes | {Signal.AVAILABILITY},
        required_settings=required,
        check_settings=check_settings,
    )


def _section(sensor: Mapping[str, Any], name: str, model: str) -> Mapping[str, Any]:
    section = sensor.get(name)
    if not isinstance(section, dict):
        raise DeviceError(f"tasmota {model}: SENSOR has no '{name}' object")
    return section


def _counter(sensor: Mapping[str, Any], settings: Mapping[str, Any], model: str) -> m.Pairs:
    litres_per_pulse = m.setting_number(settings, "litres_per_pulse", model)
    name = settings.get("counter", "C1")
    counters = _section(sensor, "COUNTER", model)
    if name not in counters:
        raise DeviceError(f"tasmota {model}: COUNTER has no '{name}'")
    pulses = m.as_number(counters[name], f"COUNTER.{name}")
    if pulses < 0:
        raise DeviceError(f"field 'COUNTER.{name}' must not be negative, got {pulses}")
    # Raw cumulative litres; CounterTracker makes the series monotonic across counter resets.
    return [(Signal.WATER_TOTAL, pulses * litres_per_pulse)]


def _check_counter(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = m.setting_problem(
        settings, lambda: m.setting_number(settings, "litres_per_pulse", "pulse_counter"), "litres_per_pulse"
    )
    if not isinstance(settings.get("counter", "C1"), str):
        problems.append(
            ("settings.counter", f"must be a counter name such as 'C1', got {settings['counter']!r}")
        )
    return problems


def _energy(sensor: Mapping[str, Any], settings: Mapping[str, Any], model: str) -> m.Pairs:
    energy = _section(sensor, "ENERGY", model)
    pairs: m.Pairs = []
    if "Total" in energy:
        pairs.append((Signal.ENERGY_TOTAL, m.as_number(energy["Total"], "ENERGY.Total")))
    if "Power" in energy:
        power = energy["Power"]
        # Multi-channel meters send a list, one value per channel: the device draws their sum.
        if isinstance(power, list):
            total = sum(m.as_number(p, "ENERGY.Power") for p in power)
        else:
            total = m.as_number(power, "ENERGY.Power")
        pairs.append((Signal.POWER, total))
    return pairs


DEFINITIONS: tuple[DeviceDefinition, ...] = (
    tasmota_device(
        "pulse_counter",
        "Tasmota",
        "Tasmota pulse counter on a water meter: COUNTER.C1 (or settings 'counter') × settings "
        "'litres_per_pulse' → WATER_TOTAL in litres, raw cumulative (the count drops after a power cut; "
        "CounterTracker keeps the series monotonic). LWT Online/Offline → AVAILABILITY.",
        _counter,
        frozenset({Signal.WATER_TOTAL}),
        frozenset({"litres_per_pulse"}),
        _check_counter,
    ),
    tasmota_device(
        "energy",
        "Tasmota",
        "Tasmota energy-monitoring plug: ENERGY.Total (kWh, cumulative) → ENERGY_TOTAL, ENERGY.Power (W) → "
        "POWER (a kettle or stove in use is a sign of life). LWT Online/Offline → AVAILABILITY.",
        _energy,
        frozenset({Signal.ENERGY_TOTAL, Signal.POWER}),
        frozenset(),
    ),
)
