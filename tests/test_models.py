"""The value types every stage shares: frozen, aware times only, a reading's unit from its signal."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from hub.models import RawMessage, Reading, Signal

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_a_reading_takes_its_signals_unit_and_refuses_a_naive_time() -> None:
    reading = Reading("H1", "meter", Signal.WATER_TOTAL, 12.5, AT)
    assert reading.unit == "L"
    assert Reading("H1", "meter", Signal.WATER_TOTAL, 12.5, AT, unit="m3").unit == "m3"
    assert dataclasses.replace(reading, value=13.0) == Reading(
        home="H1", device="meter", signal=Signal.WATER_TOTAL, value=13.0, ts=AT
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.value = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone-aware"):
        Reading("H1", "meter", Signal.WATER_TOTAL, 12.5, datetime(2026, 11, 30, 8, 0))
    assert hash(reading) == hash(dataclasses.replace(reading))


def test_a_raw_message_refuses_a_naive_receipt_time_and_cannot_be_changed() -> None:
    message = RawMessage("mqtt", "zigbee2mqtt/sos", b"{}", AT)
    assert message.held is None
    assert dataclasses.replace(message, held=(AT, AT)).held == (AT, AT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.topic = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone-aware"):
        RawMessage("mqtt", "zigbee2mqtt/sos", b"{}", datetime(2026, 11, 30, 8, 0))
