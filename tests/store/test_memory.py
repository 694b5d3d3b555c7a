"""The in-memory store of what-if replays: beyond the shared behaviour (test_store_behaviour), forgetting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.models import Signal
from hub.store import StoreError
from hub.store.memory import MemoryStore
from tests.store.helpers import T0, heart_rates


async def test_forgotten_readings_are_gone_and_a_query_reaching_them_is_an_error_not_less_data() -> None:
    store = MemoryStore()
    await store.write(heart_rates("h", "watch", 10))
    store.forget_before(T0 + timedelta(seconds=4))

    kept = await store.query("h", Signal.HEART_RATE, T0 + timedelta(seconds=4), T0 + timedelta(minutes=1))
    assert [r.value for r in kept] == [64.0, 65.0, 66.0, 67.0, 68.0, 69.0]
    with pytest.raises(StoreError, match="dropped"):
        await store.query("h", None, T0, T0 + timedelta(minutes=1))


async def test_a_late_reading_takes_its_place_in_time_and_the_same_key_is_replaced() -> None:
    store = MemoryStore()
    readings = heart_rates("h", "watch", 5)
    await store.write(readings[:2] + readings[3:])
    await store.write([readings[2]])  # late: belongs between the second and the fourth
    await store.write(
        [heart_rates("h", "watch", 1, start=T0, first=99.0)[0]]
    )  # same home, signal, ts, device

    got = await store.query("h", Signal.HEART_RATE, T0, T0 + timedelta(minutes=1))
    assert [r.value for r in got] == [99.0, 61.0, 62.0, 63.0, 64.0]
