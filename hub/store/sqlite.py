"""`SqliteStore`: the embedded default time-series store, one SQLite file in WAL mode.

Every SQLite call runs on one dedicated worker thread that owns the connection, so the event loop never
blocks on disk and the connection is never shared between threads.

Schema: ``readings`` holds every reading (time as integer ns since the epoch); its primary key
(home, signal, ts, device) is the index that `query` walks. A reading with the same home, signal, time and
device as a stored one replaces it: the same rule InfluxDB applies to a point, so both stores agree when a
batch is written twice (e.g. replayed after a crash). ``latest`` keeps one row per (home, device, signal)
so that `latest()` does not scan the history; it is updated in the same transaction as ``readings``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from hub.models import Reading, Signal
from hub.store.errors import StoreError
from hub.store.lineprotocol import EPOCH, from_ns, to_ns

_T = TypeVar("_T")
_ONE_US_NS = 1000
_US = timedelta(microseconds=1)
# Homes per SELECT of `query_homes`: SQLite before 3.32 allows at most 999 host parameters in a statement.
_HOMES_PER_SELECT = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    home   TEXT    NOT NULL,
    signal TEXT    NOT NULL,
    ts     INTEGER NOT NULL,  -- ns since 1970-01-01T00:00:00Z
    device TEXT    NOT NULL,
    value  REAL    NOT NULL,
    unit   TEXT    NOT NULL,
    PRIMARY KEY (home, signal, ts, device)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest (
    home   TEXT    NOT NULL,
    device TEXT    NOT NULL,
    signal TEXT    NOT NULL,
    ts     INTEGER NOT NULL,
    value  REAL    NOT NULL,
    unit   TEXT    NOT NULL,
    PRIMARY KEY (home, device, signal)
) WITHOUT ROWID;
"""

_INSERT = "INSERT OR REPLACE INTO readings (home, signal, ts, device, value, unit) VALUES (?, ?, ?, ?, ?, ?)"
_UPSERT_LATEST = """
INSERT INTO latest (home, device, signal, ts, value, unit) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (home, device, signal) DO UPDATE
    SET ts = excluded.ts, value = excluded.value, unit = excluded.unit
    WHERE excluded.ts >= latest.ts
"""


class SqliteStore:
    """A `TimeSeriesStore` in one SQLite file. Use as ``async with SqliteStore(path) as store:``.

    `synchronous` picks SQLite's durability: "NORMAL" (default) survives a crash of the hub process;
    "FULL" also survives a power cut, at the price of one fsync per `write`.
    """

    def __init__(
        self, path: Path, *, batch_max: int = 5000, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    ) -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self._path = Path(path)
        self._batch_max = batch_max
        self._synchronous = synchronous
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def __aenter__(self) -> Self:
        """Start the worker thread, open the file and create the tables if they are missing."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            await self._run(self._open)
        except StoreError:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the connection (every `write` already committed) and stop the worker thread."""
        if self._executor is None:
            return
        try:
            await self._run(self._close)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._executor is None:
            raise StoreError("SqliteStore is not open (use it as `async with`)")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self._path}: {exc}") from exc

    # -- worker-thread side ------------------------------------------------------------------------

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is exactly one transaction.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode, synchronous=NORMAL writes each commit to the WAL file before COMMIT returns but
            # fsyncs only at checkpoints. A committed batch therefore survives a crash or kill of the hub
            # process (the WAL is in the OS page cache and is replayed on the next open) and the database
            # never corrupts; only an OS crash or power cut can lose the last commits. That matches the
            # hub's "acknowledge after durable" rule for its main failure (the hub dying) while keeping
            # ≥100k readings/s; deployments that must also survive power cuts choose synchronous="FULL".
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.executescript(_SCHEMA)
        except sqlite3.Error:
            conn.close()
            raise
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("SqliteStore is not open")
        return self._conn

    def _write_rows(self, rows: list[tuple[str, str, int, str, float, str]]) -> None:
        conn = self._db()
        newest: dict[tuple[str, str, str], tuple[str, str, int, str, float, str]] = {}
        for row in rows:
            key = (row[0], row[3], row[1])
            kept = newest.get(key)
            if kept is None or row[2] >= kept[2]:
                newest[key] = row
        conn.execute("BEGIN")
        try:
            conn.executemany(_INSERT, rows)
            conn.executemany(_UPSERT_LATEST, [(r[0], r[3], r[1], r[2], r[4], r[5]) for r in newest.values()])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _select(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._db().execute(sql, params).fetchall()

    # -- public API --------------------------------------------------------------------------------

    async def write(self, readings: Sequence[Reading]) -> None:
        """Store `readings`, one transaction per batch of `batch_max`; committed when this returns."""
        for start in range(0, len(readings), self._batch_max):
            chunk = readings[start : start + self._batch_max]
            rows = [
                (
                    r.home,
                    r.signal.value,
                    ((r.ts - EPOCH) // _US) * _ONE_US_NS,
                    r.device,
                    float(r.value),
                    r.unit,
                )
                for r in chunk
            ]
            await self._run(self._write_rows, rows)

    async def query(self, home: str, signal: Signal | None, start: datetime, end: datetime) -> list[Reading]:
        """Readings of one home (optionally one signal) with start <= ts < end, oldest first."""
        if signal is None:
            sql = (
                "SELECT signal, ts, device, value, unit FROM readings "
                "WHERE home = ? AND ts >= ? AND ts < ? ORDER BY ts, signal, device"
            )
            params: tuple[Any, ...] = (home, to_ns(start), to_ns(end))
        else:
            sql = (
                "SELECT signal, ts, device, value, unit FROM readings "
                "WHERE home = ? AND signal = ? AND ts >= ? AND ts < ? ORDER BY ts, device"
            )
            params = (home, signal.value, to_ns(start), to_ns(end))
        rows = await self._run(self._select, sql, params)
        return [
            Reading(home, device, Signal(sig), value, from_ns(ts), unit)
            for sig, ts, device, value, unit in rows
        ]

    async def query_homes(
        self, homes: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Reading]]:
        """Readings of each of `homes` with start <= ts < end, each home's oldest first (none: absent)."""
        out: dict[str, list[Reading]] = {}
        for first in range(0, len(homes), _HOMES_PER_SELECT):
            chunk = list(homes[first : first + _HOMES_PER_SELECT])
            sql = (
                "SELECT home, signal, ts, device, value, unit FROM readings "
                f"WHERE home IN ({','.join('?' * len(chunk))}) AND ts >= ? AND ts < ? "
                "ORDER BY home, ts, signal, device"
            )
            rows = await self._run(self._select, sql, (*chunk, to_ns(start), to_ns(end)))
            for home, sig, ts, device, value, unit in rows:
                out.setdefault(home, []).append(Reading(home, device, Signal(sig), value, from_ns(ts), unit))
        return out

    async def latest(self, home: str | None = None) -> list[Reading]:
        """The newest reading per (home, device, signal), for one home or all."""
        sql = "SELECT home, device, signal, ts, value, unit FROM latest"
        params: tuple[Any, ...] = ()
        if home is not None:
            sql += " WHERE home = ?"
            params = (home,)
        sql += " ORDER BY home, device, signal"
        rows = await self._run(self._select, sql, params)
        return [Reading(h, d, Signal(s), v, from_ns(ts), u) for h, d, s, ts, v, u in rows]

    def pending(self) -> int:
        """Always 0: `write` commits before it returns, nothing waits in a buffer."""
        return 0
