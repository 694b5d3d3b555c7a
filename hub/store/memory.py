"""A time-series store in memory, for what-if replays: nothing is durable and nothing touches the disk.

It keeps the contract of the SQLite store: one reading per (home, signal, time, device), a later write of
the same key replacing the earlier one; queries return readings oldest first, ties ordered by device (and
by signal when all signals are asked for). A replay of weeks of traffic only needs the last few weeks for
the nightly learning, so `forget_before` drops older readings; a query that reaches into what was dropped
raises `StoreError` instead of silently answering with less.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from hub.models import Reading, Signal
from hub.store.errors import StoreError

_Key = tuple[datetime, str]  # (ts, device): the order of one home's readings of one signal


class _Series:
    """One home's readings of one signal, sorted by (ts, device), with their keys alongside for bisect."""

    __slots__ = ("keys", "readings")

    def __init__(self) -> None:
        self.keys: list[_Key] = []
        self.readings: list[Reading] = []

    def put(self, reading: Reading) -> None:
        key = (reading.ts, reading.device)
        keys = self.keys
        if not keys or key > keys[-1]:  # the usual case: traffic arrives in time order
            keys.append(key)
            self.readings.append(reading)
            return
        at = bisect_left(keys, key)
        if at < len(keys) and keys[at] == key:
            self.readings[at] = reading  # same key: the later write wins, as in SQLite's INSERT OR REPLACE
        else:
            keys.insert(at, key)
            self.readings.insert(at, reading)

    def between(self, start: datetime, end: datetime) -> list[Reading]:
        lo = bisect_left(self.keys, (start, ""))
        hi = bisect_left(self.keys, (end, ""))
        return self.readings[lo:hi]

    def forget_before(self, horizon: datetime) -> None:
        cut = bisect_left(self.keys, (horizon, ""))
        if cut:
            del self.keys[:cut]
            del self.readings[:cut]


class MemoryStore:
    """A `TimeSeriesStore` held in memory (see the module docstring); `write` is immediate."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, Signal], _Series] = {}
        self._by_home: dict[str, list[Signal]] = {}
        self._latest: dict[tuple[str, str, Signal], Reading] = {}
        self._forgotten: datetime | None = None

    async def __aenter__(self) -> Self:
        """Nothing to open."""
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Nothing to flush: the readings go with the object."""

    async def write(self, readings: Sequence[Reading]) -> None:
        """Keep `readings` (in memory only)."""
        self.put(readings)

    def put(self, readings: Sequence[Reading]) -> None:
        """`write` without the coroutine, for a caller that holds no event loop (or wants none per batch)."""
        series = self._series
        latest = self._latest
        for r in readings:
            if r.ts.tzinfo is not UTC:  # an instant given in another zone is stored as UTC, as SQLite does
                r = replace(r, ts=r.ts.astimezone(UTC))
            key = (r.home, r.signal)
            s = series.get(key)
            if s is None:
                s = series[key] = _Series()
                self._by_home.setdefault(r.home, []).append(r.signal)
            s.put(r)
            lkey = (r.home, r.device, r.signal)
            kept = latest.get(lkey)
            if kept is None or r.ts >= kept.ts:
                latest[lkey] = r

    async def query(self, home: str, signal: Signal | None, start: datetime, end: datetime) -> list[Reading]:
        """Readings of one home (optionally one signal) with start <= ts < end, oldest first.

        Raises `StoreError` when `start` lies before readings this store has already forgotten.
        """
        if self._forgotten is not None and start < self._forgotten:
            raise StoreError(
                f"in-memory store: readings before {self._forgotten.isoformat()} were dropped, "
                f"cannot answer a query from {start.isoformat()}"
            )
        if signal is not None:
            s = self._series.get((home, signal))
            return s.between(start, end) if s is not None else []
        parts = [
            [(r.ts, sig.value, r.device, r) for r in self._series[(home, sig)].between(start, end)]
            for sig in self._by_home.get(home, [])
        ]
        return [item[3] for item in heapq.merge(*parts, key=lambda item: item[:3])]

    async def query_homes(
        self, homes: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Reading]]:
        """Readings of each of `homes` with start <= ts < end, each home's oldest first (none: absent)."""
        out: dict[str, list[Reading]] = {}
        for home in homes:
            readings = await self.query(home, None, start, end)
            if readings:
                out[home] = readings
        return out

    async def latest(self, home: str | None = None) -> list[Reading]:
        """The newest reading per (home, device, signal), for one home or all."""
        rows = [r for key, r in self._latest.items() if home is None or key[0] == home]
        return sorted(rows, key=lambda r: (r.home, r.device, r.signal.value))

    def pending(self) -> int:
        """Always 0: nothing is buffered for a backing database (there is none)."""
        return 0

    def forget_before(self, horizon: datetime) -> None:
        """Drop readings older than `horizon`; later queries starting before it raise `StoreError`."""
        if self._forgotten is not None and horizon <= self._forgotten:
            return
        for s in self._series.values():
            s.forget_before(horizon)
        self._forgotten = horizon
