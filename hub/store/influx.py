"""`InfluxStore`: readings in InfluxDB over the v1 HTTP API, with an fsynced on-disk spool for outages.

Write path: each batch (at most `batch_max` readings) is POSTed to ``/write`` as line protocol. `write`
returns once every batch is either acknowledged by InfluxDB (2xx: InfluxDB has it in its WAL) or appended
to the spool and fsynced. Failures are sorted at the boundary:

* transient (connection refused/reset, timeout, 5xx, 408, 429, 404 "database not found"): the batch is
  spooled and a background task replays the spool, oldest first, once InfluxDB answers again. While the
  spool holds anything, new batches are appended to it too, so replay keeps the order they came in;
* permanent (any other 4xx, e.g. 400 for a bad line or a field type conflict): the batch is kept in the
  ``rejected.spool`` file with InfluxDB's error text as a comment line, and `write` raises `StoreError`.

Replay is at-least-once: a crash after InfluxDB accepted a replayed batch but before the spool moved past
it sends that batch again. That is harmless because InfluxDB identifies a point by (measurement, tag set,
time), so the second copy overwrites the first with the same value.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp

from hub.models import Reading, Signal
from hub.store.errors import StoreError
from hub.store.lineprotocol import (
    encode_readings,
    from_ns,
    measurements_clause,
    quote_identifier,
    quote_literal,
    to_ns,
)
from hub.store.spool import Spool

LOGGER = logging.getLogger(__name__)

_T = TypeVar("_T")
_TRANSIENT_4XX = frozenset({404, 408, 429})
_ALL_SIGNALS = tuple(str(s) for s in Signal)
_SIGNAL_NAMES = frozenset(_ALL_SIGNALS)
# Homes per query of `query_homes`. InfluxDB 1.6 answers an OR of many tag predicates in more than linear
# time: 2,000 homes took 0.75 s in queries of 50 homes, 0.85 s of 200, 1.4 s of 1,000 (2.9 s one a home).
QUERY_HOMES_CHUNK = 50


def _add_rows(readings: list[Reading], home: str, series: dict[str, Any]) -> None:
    """The rows of one series of a `SELECT "value","device","unit"` answer, as readings of `home`."""
    name = series.get("name", "")
    if name not in _SIGNAL_NAMES:
        return
    sig = Signal(name)
    col = {c: i for i, c in enumerate(series["columns"])}
    t, v, d, u = col["time"], col["value"], col["device"], col["unit"]
    for row in series.get("values") or []:
        if row[v] is None:
            continue
        readings.append(Reading(home, row[d] or "", sig, float(row[v]), from_ns(row[t]), row[u] or ""))


def _reading_order(reading: Reading) -> tuple[datetime, str, str]:
    """Oldest first; readings of one instant by signal, then device (as every store returns them)."""
    return (reading.ts, reading.signal, reading.device)


class _Transient(Exception):
    """InfluxDB could not be reached or asked us to come back later; the batch is worth retrying."""


class _Rejected(Exception):
    """InfluxDB refused the request for good (4xx); `text` is its error message."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status
        self.text = text


def _error_text(body: str) -> str:
    """InfluxDB's ``{"error": "..."}`` message, or the raw body when it is not that shape."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return body.strip()


class InfluxStore:
    """A `TimeSeriesStore` on InfluxDB's v1 HTTP API (InfluxDB 1.x; 2.x and 3.x via their v1 endpoints).

    Schema: measurement = signal name; tags ``home``, ``device``, ``unit`` (absent when empty); one float
    field ``value``; time in ns. Use as ``async with InfluxStore(...) as store:``.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        username: str | None = None,
        password: str | None = None,
        spool_dir: Path,
        retention_policy: str | None = None,
        batch_max: int = 5000,
        timeout: float = 10.0,
        max_buffer: int = 100_000,
        retry_min: float = 0.2,
        retry_max: float = 5.0,
    ) -> None:
        if not database:
            raise ValueError("InfluxStore needs a database name")
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        if max_buffer < batch_max:
            raise ValueError(f"max_buffer ({max_buffer}) must be at least batch_max ({batch_max})")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self._base = url.rstrip("/")
        self._database = database
        self._auth = (
            aiohttp.BasicAuth(username or "", password or "")
            if username is not None or password is not None
            else None
        )
        self._spool_dir = Path(spool_dir)
        self._rp = retention_policy
        self._batch_max = batch_max
        self._timeout = timeout
        self._retry_min = retry_min
        self._retry_max = retry_max
        # Memory bound: at most max_buffer // batch_max batches are encoded or in flight at once.
        self._slots_total = max(1, max_buffer // batch_max)
        self._slots = asyncio.Semaphore(self._slots_total)
        self._write_params = {"db": database, "precision": "ns"}
        if retention_policy:
            self._write_params["rp"] = retention_policy
        self._prefix_cache: dict[tuple[str, str, str, str], str] = {}
        self._spool = Spool(self._spool_dir / "pending.spool")
        self._rejected = Spool(self._spool_dir / "rejected.spool")
        self._executor: ThreadPoolExecutor | None = None
        self._session: aiohttp.ClientSession | None = None
        self._replayer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock_fd: int | None = None
        self._in_flight = 0  # readings handed to write() and not yet acknowledged or spooled
        self._writers = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = False
        self._down_logged = False

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Lock and open the spool, open the HTTP session, create the database if needed, start replay."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-spool")
        try:
            await self._io(self._open_spools)
        except OSError as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StoreError(f"cannot open the InfluxDB spool in {self._spool_dir}: {exc}") from exc
        self._session = aiohttp.ClientSession(
            auth=self._auth,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            connector=aiohttp.TCPConnector(limit=self._slots_total + 2),
        )
        self._open = True
        await self._ensure_database()
        self._replayer = asyncio.create_task(self._replay_loop(), name="influx-spool-replay")
        if self._spool.pending_records:
            LOGGER.warning(
                "InfluxDB spool %s holds %d readings from before; replaying them",
                self._spool.path,
                self._spool.pending_readings,
            )
            self._wake.set()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Wait for writes in progress, stop replaying (the spool stays on disk) and close everything."""
        self._open = False
        await self._idle.wait()
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
            self._replayer = None
        if self._spool.pending_readings:
            LOGGER.warning(
                "closing InfluxStore with %d readings still spooled in %s; they replay on the next start",
                self._spool.pending_readings,
                self._spool.path,
            )
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._executor is not None:
            await self._io(self._close_spools)
            self._executor.shutdown(wait=True)
            self._executor = None

    def _open_spools(self) -> None:
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._spool_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise OSError(f"another store is using the spool folder {self._spool_dir}") from exc
        try:
            self._spool.open()
            self._rejected.open()
        except OSError:
            self._spool.close()
            os.close(fd)
            raise
        self._lock_fd = fd

    def _close_spools(self) -> None:
        self._spool.close()
        self._rejected.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    async def _io(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run blocking spool I/O on the single spool thread (which keeps spool operations in order)."""
        if self._executor is None:
            raise StoreError("InfluxStore is not open (use it as `async with`)")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- writing -----------------------------------------------------------------------------------

    def pending(self) -> int:
        """Readings handed to `write` or spooled that InfluxDB has not acknowledged yet."""
        return self._spool.pending_readings + self._in_flight

    @property
    def rejected_path(self) -> Path:
        """The file that keeps batches InfluxDB refused for good (same record format as the spool)."""
        return self._rejected.path

    async def write(self, readings: Sequence[Reading]) -> None:
        """Send `readings` in batches; on return each batch is acknowledged by InfluxDB or fsynced to disk.

        Raises StoreError when a batch is refused for good (it is kept in `rejected_path`), when a reading
        cannot be written as line protocol (e.g. a NaN value), or when the spool cannot be written.
        """
        if not self._open:
            raise StoreError("InfluxStore is not open (use it as `async with`)")
        self._writers += 1
        self._idle.clear()
        try:
            for start in range(0, len(readings), self._batch_max):
                chunk = readings[start : start + self._batch_max]
                async with self._slots:
                    self._in_flight += len(chunk)
                    try:
                        try:
                            body = encode_readings(chunk, self._prefix_cache)
                        except ValueError as exc:
                            raise StoreError(f"cannot write readings to InfluxDB: {exc}") from exc
                        await self._send(body, len(chunk))
                    finally:
                        self._in_flight -= len(chunk)
        finally:
            self._writers -= 1
            if self._writers == 0:
                self._idle.set()

    async def _send(self, body: bytes, count: int) -> None:
        # While anything is spooled, new batches queue behind it so that replay keeps their order.
        if self._spool.pending_records == 0:
            try:
                await self._post_write(body)
            except _Transient as exc:
                if not self._down_logged:
                    LOGGER.warning("InfluxDB unavailable (%s); spooling batches to %s", exc, self._spool_dir)
                    self._down_logged = True
            except _Rejected as exc:
                where = await self._reject(body, count, exc)
                raise StoreError(
                    f"InfluxDB refused a batch of {count} readings ({exc}); kept in {where}"
                ) from exc
            else:
                return
        await self._spool_append(body, count)

    async def _spool_append(self, body: bytes, count: int) -> None:
        try:
            await self._io(self._spool.append, body, count)
        except OSError as exc:
            raise StoreError(f"cannot spool {count} readings to {self._spool.path}: {exc}") from exc
        self._wake.set()

    async def _reject(self, body: bytes, count: int, exc: _Rejected) -> Path:
        """Keep a refused batch, with InfluxDB's reason as a line protocol comment in front of it."""
        reason = " ".join(exc.text.split())
        payload = f"# rejected by InfluxDB, HTTP {exc.status}: {reason}\n".encode() + body
        LOGGER.error("InfluxDB refused %d readings (%s); kept in %s", count, exc, self._rejected.path)
        try:
            await self._io(self._rejected.append, payload, count)
        except OSError as io_exc:
            raise StoreError(
                f"InfluxDB refused {count} readings ({exc}) and they could not be kept in "
                f"{self._rejected.path}: {io_exc}"
            ) from io_exc
        return self._rejected.path

    async def _post_write(self, body: bytes) -> None:
        """POST one line protocol batch; raise _Transient or _Rejected unless InfluxDB acknowledges it."""
        status, text = await self._request("POST", "/write", params=self._write_params, data=body)
        if status == 404:
            # The database may have been dropped (or InfluxDB was empty when we started): create and retry.
            await self._create_database()
            status, text = await self._request("POST", "/write", params=self._write_params, data=body)
        if 200 <= status < 300:
            if self._down_logged:
                LOGGER.warning("InfluxDB at %s answers again", self._base)
                self._down_logged = False
            return
        if status >= 500 or status in _TRANSIENT_4XX:
            raise _Transient(f"HTTP {status}: {_error_text(text)}")
        raise _Rejected(status, _error_text(text))

    async def _request(self, method: str, path: str, **kwargs: Any) -> tuple[int, str]:
        if self._session is None:
            raise _Transient("the HTTP session is closed")
        try:
            async with self._session.request(method, self._base + path, **kwargs) as resp:
                return resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc

    # -- replay ------------------------------------------------------------------------------------

    async def _replay_loop(self) -> None:
        """Forever: when the spool holds records, send them oldest first; back off while InfluxDB is down."""
        delay = self._retry_min
        while True:
            self._wake.clear()
            if self._spool.pending_records == 0:
                await self._wake.wait()
                continue
            try:
                record = await self._io(self._spool.peek)
                if record is None:
                    continue
                try:
                    await self._post_write(record.payload)
                except _Transient as exc:
                    LOGGER.debug("spool replay: InfluxDB still unavailable (%s); retry in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self._retry_max)
                    continue
                except _Rejected as exc:
                    # Nobody awaits a replayed batch, so the log and the rejected file are where it goes.
                    await self._reject(record.payload, record.count, exc)
                await self._io(self._spool.advance)
                delay = self._retry_min
                if self._spool.pending_records == 0:
                    LOGGER.warning("InfluxDB spool replayed completely")
            except (OSError, StoreError) as exc:
                LOGGER.error("spool replay failed on local I/O (%s); retry in %.1fs", exc, self._retry_max)
                await asyncio.sleep(self._retry_max)

    # -- database and queries ----------------------------------------------------------------------

    async def _ensure_database(self) -> None:
        """Create the database when it is missing; an unreachable InfluxDB or missing rights only log."""
        try:
            results = await self._query("SHOW DATABASES")
        except StoreError as exc:
            LOGGER.warning("cannot list InfluxDB databases (%s); writes spool until InfluxDB answers", exc)
            return
        names = {row[0] for series in results for row in series.get("values") or []}
        if self._database not in names:
            await self._create_database()

    async def _create_database(self) -> None:
        try:
            await self._query(f"CREATE DATABASE {quote_identifier(self._database)}", method="POST")
        except StoreError as exc:
            LOGGER.warning(
                "cannot create InfluxDB database %r (%s); does the user lack admin rights? "
                "Create it by hand if writes keep failing with 'database not found'",
                self._database,
                exc,
            )
        else:
            LOGGER.info("created InfluxDB database %r", self._database)

    async def _query(self, q: str, method: str = "GET") -> list[dict[str, Any]]:
        """Run InfluxQL; return every series of every result (chunks merged). Errors become StoreError."""
        params = {"db": self._database, "epoch": "ns", "chunked": "true"}
        try:
            if method == "GET":
                status, text = await self._request("GET", "/query", params={**params, "q": q})
            else:
                status, text = await self._request("POST", "/query", params=params, data={"q": q})
        except _Transient as exc:
            raise StoreError(f"InfluxDB at {self._base} is unavailable: {exc}") from exc
        if status >= 300:
            raise StoreError(f"InfluxDB refused the query {q!r}: HTTP {status}: {_error_text(text)}")
        series: list[dict[str, Any]] = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                chunk = json.loads(line)
            except ValueError as exc:
                raise StoreError(f"InfluxDB answered {q!r} with invalid JSON: {line[:200]!r}") from exc
            if "error" in chunk:
                raise StoreError(f"InfluxDB failed the query {q!r}: {chunk['error']}")
            for result in chunk.get("results", []):
                if "error" in result:
                    raise StoreError(f"InfluxDB failed the query {q!r}: {result['error']}")
                series.extend(result.get("series", []))
        return series

    def _from(self, signal: Signal | None) -> str:
        names = _ALL_SIGNALS if signal is None else (str(signal),)
        return measurements_clause(names, self._database, self._rp)

    async def query(self, home: str, signal: Signal | None, start: datetime, end: datetime) -> list[Reading]:
        """Readings of one home (optionally one signal) with start <= ts < end, oldest first.

        Only what InfluxDB holds is seen: readings still in the spool appear once they are replayed.
        """
        q = (
            f'SELECT "value","device","unit" FROM {self._from(signal)} '
            f'WHERE "home" = {quote_literal(home)} AND time >= {to_ns(start)} AND time < {to_ns(end)}'
        )
        readings: list[Reading] = []
        for series in await self._query(q):
            _add_rows(readings, home, series)
        readings.sort(key=_reading_order)
        return readings

    async def query_homes(
        self, homes: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Reading]]:
        """Readings of each of `homes` with start <= ts < end, each home's oldest first (none: absent).

        One query per `QUERY_HOMES_CHUNK` homes (POSTed: the WHERE clause is long), grouped by home.
        Only what InfluxDB holds is seen, as with `query`.
        """
        out: dict[str, list[Reading]] = {}
        span = f"time >= {to_ns(start)} AND time < {to_ns(end)}"
        for first in range(0, len(homes), QUERY_HOMES_CHUNK):
            chunk = homes[first : first + QUERY_HOMES_CHUNK]
            which = " OR ".join(f'"home" = {quote_literal(home)}' for home in chunk)
            q = (
                f'SELECT "value","device","unit" FROM {self._from(None)} '
                f'WHERE ({which}) AND {span} GROUP BY "home"'
            )
            for series in await self._query(q, method="POST"):
                home = (series.get("tags") or {}).get("home", "")
                _add_rows(out.setdefault(home, []), home, series)
        for readings in out.values():
            readings.sort(key=_reading_order)
        return {home: readings for home, readings in out.items() if readings}

    async def latest(self, home: str | None = None) -> list[Reading]:
        """The newest reading per (home, device, signal), for one home or all."""
        where = "" if home is None else f' WHERE "home" = {quote_literal(home)}'
        q = f'SELECT last("value") FROM {self._from(None)}{where} GROUP BY "home","device","unit"'
        newest: dict[tuple[str, str, Signal], Reading] = {}
        for series in await self._query(q):
            name = series.get("name", "")
            if name not in _SIGNAL_NAMES:
                continue
            tags = series.get("tags") or {}
            sig = Signal(name)
            for row in series.get("values") or []:
                if row[1] is None:
                    continue
                reading = Reading(
                    tags.get("home", ""),
                    tags.get("device", ""),
                    sig,
                    float(row[1]),
                    from_ns(row[0]),
                    tags.get("unit", ""),
                )
                key = (reading.home, reading.device, sig)
                # A unit change makes a second series for the same device and signal; keep the newest.
                if key not in newest or reading.ts >= newest[key].ts:
                    newest[key] = reading
        return sorted(newest.values(), key=lambda r: (r.home, r.device, r.signal))
