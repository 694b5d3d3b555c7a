"""The rules engine inside the running hub: restore at start, periodic jobs on APScheduler, snapshot at stop.

Jobs (AsyncIOScheduler, coroutines on the hub's event loop, so the engine is never touched from a thread):
- sweep every `sweep_interval_s` (30 s): due timers → `pipeline.raise_candidates`;
- refresh every `calendar_refresh_s`: homes, tiers, device bindings, absences and modes from the register;
- snapshot every `snapshot_interval_s`: one row per home in `rule_state`;
- learn nightly at `learn_at` local time: each home's baseline from the last `learn_days` of the time series.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Self

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import Clock
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.models import AlertCandidate
from hub.rules.calendar import Calendar, load_calendar
from hub.rules.engine import HomeProfile, RulesEngine
from hub.rules.persistence import (
    learn_all,
    load_profiles,
    load_snapshot,
    prune_snapshot,
    restore_engine,
    write_snapshot_rows,
)
from hub.rules.replay import sign_capable
from hub.rules.settings import RulesConfig
from hub.store.base import TimeSeriesStore

LOGGER = logging.getLogger(__name__)
# Homes per stretch of a snapshot: taken on the loop, then written in a transaction of its own (see `save`).
SNAPSHOT_CHUNK = 500


class RulesService:
    """Owns the engine's lifecycle in the hub (async context manager)."""

    def __init__(
        self,
        config: RulesConfig,
        timezone: str,
        *,
        sessions: sessionmaker[Session],
        store: TimeSeriesStore,
        bindings: Callable[[], Mapping[tuple[str, str], Binding]],
        clock: Clock,
        registry: DeviceRegistry | None = None,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config
        self.timezone = timezone
        self.engine = RulesEngine(
            config, timezone, sign_capable=sign_capable(registry or DeviceRegistry.default())
        )
        self._sessions = sessions
        self._store = store
        self._bindings = bindings
        self._clock = clock
        # Partitioned instances: the homes of this instance's partitions (None: every home).
        self._owns = owns
        self._raise: Callable[[list[AlertCandidate]], None] | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._saving = asyncio.Lock()
        self.last_sweep_at: datetime | None = None  # heartbeat for the hub's health check

    def _read_register(self) -> tuple[dict[str, HomeProfile], Calendar]:
        with self._sessions() as session:
            profiles, calendar = load_profiles(session), load_calendar(session, self._clock.now())
        if self._owns is not None:
            profiles = {code: p for code, p in profiles.items() if self._owns(code)}
        return profiles, calendar

    async def restore(self) -> int:
        """Load register, calendar and snapshot, replay the time series since; readings replayed."""
        profiles, calendar = await asyncio.to_thread(self._read_register)
        now = self._clock.now()
        self.engine.set_register(self._bindings(), profiles, now)
        self.engine.set_calendar(calendar, now)
        with self._sessions() as session:
            snapshot = await asyncio.to_thread(load_snapshot, session)
        started = time.monotonic()
        replayed = await restore_engine(self.engine, snapshot, self._store, now)
        LOGGER.info(
            "规则引擎已恢复: %d 户, 快照 %d 户, 补读 %d 条读数, 用时 %.1f 秒",
            len(self.engine.homes),
            len(snapshot),
            replayed,
            time.monotonic() - started,
        )
        return replayed

    def start(self, raise_candidates: Callable[[list[AlertCandidate]], None]) -> None:
        """Start the periodic jobs; swept candidates go to `raise_candidates` (the pipeline's)."""
        self._raise = raise_candidates
        cfg = self.config
        scheduler = AsyncIOScheduler(timezone=self.timezone)
        # A sweep that starts late must still run: APScheduler's default misfire grace (1 s) silently
        # skipped sweeps whenever the loop was busy for a second (a burst of messages), so timers did not fire.
        scheduler.add_job(
            self.sweep_now,
            "interval",
            seconds=cfg.sweep_interval_s,
            id="rules-sweep",
            max_instances=1,
            misfire_grace_time=None,
            coalesce=True,
        )
        scheduler.add_job(
            self.refresh, "interval", seconds=cfg.calendar_refresh_s, id="rules-refresh", max_instances=1
        )
        scheduler.add_job(
            self.save, "interval", seconds=cfg.snapshot_interval_s, id="rules-snapshot", max_instances=1
        )
        learn = cfg.learn_time
        scheduler.add_job(
            self.learn,
            CronTrigger(hour=learn.hour, minute=learn.minute, timezone=self.timezone),
            id="rules-learn",
        )
        scheduler.start()
        self._scheduler = scheduler

    async def sweep_now(self) -> list[AlertCandidate]:
        """One sweep at the clock's time; the candidates are handed to the pipeline."""
        now = self._clock.now()
        candidates = self.engine.sweep(now)
        if candidates and self._raise is not None:
            self._raise(candidates)
        self.last_sweep_at = now  # only a sweep that completed counts (one that raises leaves it stale)
        return candidates

    async def refresh(self) -> None:
        """Re-read homes, bindings, absences and modes."""
        profiles, calendar = await asyncio.to_thread(self._read_register)
        now = self._clock.now()
        self.engine.set_register(self._bindings(), profiles, now)
        self.engine.set_calendar(calendar, now)

    async def save(self) -> int:
        """Write the snapshot; homes saved.

        In chunks of `SNAPSHOT_CHUNK` homes, each taken on the loop (consistent with `observe`) and written
        in its own transaction. At 20,000 homes the whole snapshot took 0.55 s of the loop and its one
        transaction held SQLite's only write lock for another 0.5 s, every `snapshot_interval_s`: an SOS in
        that second waited for both. A chunk takes 3–5 ms of the loop and holds the lock 12–18 ms. Each row
        is one home's whole state with its own `saved_at` (the time its chunk was taken: a restore replays
        the readings after it), so a stop between chunks leaves every home with a snapshot that restores
        (the older ones replay more of the time series).
        """
        async with self._saving:  # the scheduled save and the one at stop must not interleave their chunks
            owns = self._owns
            codes = [code for code in self.engine.homes if owns is None or owns(code)]
            saved = 0
            for start in range(0, len(codes), SNAPSHOT_CHUNK):
                taken_at = self._clock.now()
                rows = self.engine.snapshot(codes[start : start + SNAPSHOT_CHUNK])
                saved += await asyncio.to_thread(self._write_rows, rows, taken_at)
            # Homes gone from the register lose their rows (partitioned: only among the homes this instance
            # owns; the others' rows are their owners'); the homes watched now keep theirs, even one added
            # while the chunks were written.
            keep = set(codes) | set(self.engine.homes)
            await asyncio.to_thread(self._prune, keep)
            return saved

    def _write_rows(self, rows: dict[str, dict[str, object]], now: datetime) -> int:
        with self._sessions.begin() as session:
            return write_snapshot_rows(session, rows, now)

    def _prune(self, keep: set[str]) -> int:
        with self._sessions.begin() as session:
            return prune_snapshot(session, keep, self._owns)

    async def learn(self, now: datetime | None = None) -> int:
        """The nightly learning job; homes with a baseline."""
        return await learn_all(self.engine, self._store, now or self._clock.now())

    async def __aenter__(self) -> Self:
        await self.restore()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        await self.save()
