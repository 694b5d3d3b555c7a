"""What a signal's value can physically be, checked once for every decoded reading of every source.

A decoder turns fields into numbers; it cannot know that a heart rate of −50 bpm or a battery at 400 % is
a broken device or a hostile sender, not an elder. `DeviceRegistry.decode` checks each reading against
`RANGES` and keeps only what is possible; what is not is quarantined with a reason naming the signal,
value and range (`RangeError`), so a person sees it instead of a rule acting on it.
"""

from __future__ import annotations

import math

from hub.devices.errors import DeviceError
from hub.models import SIGNAL_UNITS, Reading, Signal

# Signals whose value is a state (0/1; FALL also 0.5 = maybe): the only ones a JSON/word boolean may carry.
BOOLEAN_SIGNALS = frozenset(
    {
        Signal.SOS,
        Signal.FALL,
        Signal.WATER_STATUS,
        Signal.MOTION,
        Signal.PRESENCE,
        Signal.CONTACT,
        Signal.OCCUPANCY,
        Signal.GAS,
        Signal.SMOKE,
        Signal.LEAK,
        Signal.BATTERY_LOW,
        Signal.AVAILABILITY,
        Signal.WRIST_OFF,
    }
)

# Inclusive bounds, wide enough for every real device and elder, narrow enough to catch nonsense.
RANGES: dict[Signal, tuple[float, float]] = {
    **{signal: (0.0, 1.0) for signal in BOOLEAN_SIGNALS},
    Signal.BUTTON: (0.0, 100.0),  # press count of one event
    Signal.WATER_TOTAL: (0.0, 1e12),  # litres on the meter's register
    Signal.WATER_FLOW: (0.0, 100_000.0),  # L/h; a home's pipe carries a few thousand at most
    Signal.ILLUMINANCE: (0.0, 200_000.0),  # lx; full sunlight is about 120 000
    Signal.HEART_RATE: (20.0, 300.0),  # bpm
    Signal.SPO2: (0.0, 100.0),  # %
    Signal.BP_SYSTOLIC: (30.0, 300.0),  # mmHg
    Signal.BP_DIASTOLIC: (10.0, 250.0),  # mmHg
    Signal.BODY_TEMP: (25.0, 45.0),  # °C
    Signal.BATTERY: (0.0, 100.0),  # %
    Signal.ENERGY_TOTAL: (0.0, 1e9),  # kWh
    Signal.POWER: (-100_000.0, 100_000.0),  # W; a reversed clamp reads negative
    Signal.TEMPERATURE: (-60.0, 150.0),  # °C of a room or a device's chip
    Signal.LINK_QUALITY: (0.0, 255.0),
    Signal.STEPS: (0.0, 1_000_000.0),  # a day's steps; a pedometer never gets near
    Signal.LATITUDE: (-90.0, 90.0),
    Signal.LONGITUDE: (-180.0, 180.0),
    Signal.GEO_DATUM: (0.0, 1.0),  # 0 WGS-84, 1 GCJ-02
    Signal.WEIGHT: (1.0, 350.0),  # kg; a bathroom scale tops out at 150–180
}


class RangeError(DeviceError):
    """Some readings of a message are outside their signal's physical range.

    `kept` are the message's other readings, which are possible and still count: a Zigbee SOS press with a
    garbled battery field must still raise the SOS.
    """

    def __init__(self, reason: str, kept: list[Reading]) -> None:
        super().__init__(reason)
        self.kept = kept


def out_of_range(signal: Signal, value: float) -> str | None:
    """Why `value` is impossible for `signal`, or None when it is possible."""
    low, high = RANGES[signal]
    if math.isfinite(value) and low <= value <= high:
        return None
    unit = SIGNAL_UNITS[signal]
    return (
        f"{signal.value}={value:g} 超出物理范围 out of range {low:g}..{high:g}{(' ' + unit) if unit else ''}"
    )


def check_ranges(readings: list[Reading]) -> list[Reading]:
    """`readings` unchanged when all are possible; `RangeError` (with the possible ones kept) otherwise."""
    # The common case first, without building a second list: every value is a finite number in range.
    for reading in readings:
        low, high = RANGES[reading.signal]
        if not (low <= reading.value <= high and math.isfinite(reading.value)):
            break
    else:
        return readings
    kept: list[Reading] = []
    problems: list[str] = []
    for reading in readings:
        problem = out_of_range(reading.signal, reading.value)
        if problem is None:
            kept.append(reading)
        else:
            problems.append(problem)
    if problems:
        raise RangeError("; ".join(problems), kept)
    return kept
