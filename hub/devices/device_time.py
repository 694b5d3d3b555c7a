"""Which time a reading happened at: the device's own clock only when it is plausible.

A device's clock is not trusted without bounds (a Zigbee2MQTT ``last_seen`` in 2100 once pinned a home's last
sign of life in the future, so the home was never found silent). The hub's receipt time is the truth whenever
the device's time is implausible:

- later than receipt by more than `future_tolerance_s` (no message arrives before it was sent);
- older than receipt by more than `max_lag_s`, unless the delivery path says it was holding messages then
  (`RawMessage.held`: the broker's queue for the hub's session while the hub was away).

A device time a little after receipt (within the tolerance: clocks drift) is clamped to receipt time, so no
reading ever lies in the hub's future. A reading whose device time was set aside keeps it in `device_ts`;
the rules turn a device that keeps doing so into a device-class finding ("设备时钟异常").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hub.models import RawMessage, Reading


@dataclass(frozen=True, slots=True)
class DeviceTimePolicy:
    """Bounds of a plausible device time around the hub's receipt time (seconds)."""

    future_tolerance_s: float = 120.0
    max_lag_s: float = 900.0

    def settle(self, readings: list[Reading], raw: RawMessage) -> list[Reading]:
        """`readings` decoded from `raw`, each stamped with a plausible time (pure)."""
        received = raw.received_at
        out = readings
        for i, reading in enumerate(readings):
            ts = reading.ts
            if ts is received or ts == received:  # decoders without a device time: the common case
                continue
            settled = self._settled(reading, raw)
            if settled is not reading:
                if out is readings:
                    out = list(readings)
                out[i] = settled
        return out

    def plausible(self, raw: RawMessage, reading: Reading) -> bool:
        """Whether the device time of `reading` can be true for a message received as `raw` was."""
        # Epoch seconds: a device may claim any date, even one that datetime arithmetic cannot shift.
        ts = reading.ts.timestamp()
        received = raw.received_at.timestamp()
        lag = self.max_lag_s
        if ts > received + self.future_tolerance_s:
            return False
        if ts >= received - lag:
            return True
        held = raw.held
        return held is not None and held[0].timestamp() - lag <= ts <= held[1].timestamp() + lag

    def _settled(self, reading: Reading, raw: RawMessage) -> Reading:
        received = raw.received_at
        if not self.plausible(raw, reading):
            return dataclasses.replace(reading, ts=received, device_ts=reading.ts)
        if reading.ts > received:  # a clock a little fast: never let a reading lie in the future
            return dataclasses.replace(reading, ts=received)
        return reading
