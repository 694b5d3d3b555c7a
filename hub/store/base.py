"""The one interface every time-series store implements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from hub.models import Reading, Signal


class TimeSeriesStore(Protocol):
    """Where readings live. `write` returns only once the readings are durable (stored or spooled)."""

    async def __aenter__(self) -> Self:
        """Open connections / files."""
        ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Flush what is buffered and close."""
        ...

    async def write(self, readings: Sequence[Reading]) -> None:
        """Persist `readings`; on return they survive a crash of the hub (written or spooled to disk)."""
        ...

    async def query(self, home: str, signal: Signal | None, start: datetime, end: datetime) -> list[Reading]:
        """Readings of one home (optionally one signal) with start <= ts < end, oldest first."""
        ...

    async def query_homes(
        self, homes: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Reading]]:
        """Readings of each of `homes` with start <= ts < end, each home's oldest first; a home without
        any is absent. One round trip for many homes: a restore of thousands of homes must not take one
        query a home (the takeover time of a standby grows with it)."""
        ...

    async def latest(self, home: str | None = None) -> list[Reading]:
        """The newest reading per (home, device, signal), for one home or all."""
        ...

    def pending(self) -> int:
        """How many readings are buffered or spooled but not yet in the backing database."""
        ...
