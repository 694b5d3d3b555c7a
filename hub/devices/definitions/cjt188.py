"""CJ/T 188 water meters read over the serial poller (topic ``cjt188/<address>``, payload = the reply frame)."""

from __future__ import annotations

from datetime import datetime

from hub.devices.cjt188 import READ_DATA_REPLY, parse_frame
from hub.devices.ecosystems import CJT188
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.models import Reading, Signal


def _decode_water_meter(
    payload: bytes, route: Route, binding: Binding, received_at: datetime
) -> list[Reading]:
    frame = parse_frame(payload)
    if frame.control != READ_DATA_REPLY or frame.total_litres is None:
        raise DeviceError(
            f"CJ/T 188 frame is not a cumulative-flow reply (C={frame.control:02X}, DI={frame.di})"
        )
    if frame.address != route.external_id.upper():
        # A reply from another meter on the bus (collision or a wrong address in the register).
        raise DeviceError(f"CJ/T 188 reply from meter {frame.address} on the topic of {route.external_id}")
    # The meter's own clock is often unset (all zeros), so the reading time is when the reply arrived.
    out = [Reading(binding.home, binding.device, Signal.WATER_TOTAL, frame.total_litres, received_at)]
    if frame.battery_low is not None:
        out.append(
            Reading(binding.home, binding.device, Signal.BATTERY_LOW, float(frame.battery_low), received_at)
        )
    return out


DEFINITIONS: tuple[DeviceDefinition, ...] = (
    DeviceDefinition(
        ecosystem=CJT188,
        model="water_meter",
        vendor="CJ/T 188",
        description=(
            "CJ/T 188 cold-water meter: the cumulative flow (m³ or L) → WATER_TOTAL in litres, status ST1 bit 2 "
            "→ BATTERY_LOW. A C1 error reply, a bad checksum or a reply from another address is an error."
        ),
        decode=_decode_water_meter,
        exposes=frozenset({Signal.WATER_TOTAL, Signal.BATTERY_LOW}),
    ),
)
