"""`CounterTracker`: raw cumulative meter readings → a series that never goes backwards.

Meters and their bridges restart their counters: a Tasmota pulse counter falls back after a power cut
(to 0, or to the value it last saved to flash — by default up to an hour old), a 32-bit pulse count wraps,
a replaced meter starts again. The tracker adds an offset per (device, signal) so that the normalised total
never decreases and a drop never shows up as a huge or negative consumption.

How a drop is read:

* raw falls to less than ``reset_fraction`` (default ½) of the last raw value → the counter *restarted
  from zero*: ``offset += last_raw``, so what was counted since the restart (the new raw value) is consumption.
  A 32-bit rollover looks the same and is deliberately treated the same: we cannot tell the two apart, and
  assuming a rollover (``offset += 2**32 − last_raw``) on a real reset would invent up to 4 billion pulses of
  consumption, while assuming a reset on a real rollover loses only the few pulses between the last report
  and the wrap. (WATER_TOTAL is already in litres, so the counter width is not even known here.)
* a smaller drop → the counter went back to an older saved value (Tasmota after a power cut), or a stale
  telegram arrived late: ``offset += last_raw − raw``, so the series holds its level instead of counting the
  saved value a second time. The pulses the device lost stay lost. (A stale telegram followed by a fresh
  one over-counts by the small step between them — far better than counting a whole meter reading twice.)

I/O-free: the caller persists `snapshot()` (e.g. the register's counter_state table) and `restore()`s it at
start, so the first reading after a restart is compared with the last one before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from hub.models import Reading, Signal

COUNTER_SIGNALS = frozenset({Signal.WATER_TOTAL, Signal.ENERGY_TOTAL})

CounterKey = tuple[str, Signal]  # (device code, signal)
CounterState = tuple[float, float]  # (last raw value, offset)


class CounterTracker:
    """Turns raw cumulative readings (WATER_TOTAL, ENERGY_TOTAL) into monotonic ones; see the module doc."""

    def __init__(self, reset_fraction: float = 0.5) -> None:
        if not 0.0 <= reset_fraction <= 1.0:
            raise ValueError(f"reset_fraction must be within 0..1, got {reset_fraction}")
        self._reset_fraction = reset_fraction
        self._state: dict[CounterKey, CounterState] = {}

    def normalise(self, reading: Reading) -> Reading:
        """`reading` with the offset applied; other signals pass through unchanged."""
        if reading.signal not in COUNTER_SIGNALS:
            return reading
        key = (reading.device, reading.signal)
        raw = reading.value
        state = self._state.get(key)
        if state is None:  # first reading ever: the meter's own total is the truth
            self._state[key] = (raw, 0.0)
            return reading
        last_raw, offset = state
        if raw < last_raw:
            if raw < last_raw * self._reset_fraction:
                offset += last_raw  # restarted from zero (or wrapped): raw is what was used since
            else:
                offset += last_raw - raw  # fell back to an older value: hold the level
        self._state[key] = (raw, offset)
        return reading if offset == 0.0 else replace(reading, value=raw + offset)

    def state_of(self, device: str, signal: Signal | str) -> CounterState:
        """The (last raw value, offset) of one counter, to persist what a batch changed."""
        return self._state[(device, Signal(signal))]

    def snapshot(self) -> dict[CounterKey, CounterState]:
        """A copy of the state to persist: (device, signal) → (last raw value, offset)."""
        return dict(self._state)

    def restore(
        self, snapshot: Mapping[CounterKey, CounterState] | Mapping[tuple[str, str], CounterState]
    ) -> None:
        """Replace the state with a persisted `snapshot` (keys may carry the signal as its string value)."""
        self._state = {
            (device, Signal(signal)): (float(raw), float(off))
            for (device, signal), (raw, off) in snapshot.items()
        }
