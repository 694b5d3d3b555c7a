"""Shared bits of the store tests: sample readings and polling without timed assertions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hub.models import Reading, Signal

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def heart_rates(home: str, device: str, n: int, start: datetime = T0, first: float = 60.0) -> list[Reading]:
    """`n` heart-rate readings one second apart, values first, first+1, …"""
    return [
        Reading(home, device, Signal.HEART_RATE, first + i, start + timedelta(seconds=i)) for i in range(n)
    ]


async def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    """Poll `condition` until it holds; fail the test (not a speed assertion) if it never does."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {limit_s}s")
        await asyncio.sleep(0.05)
