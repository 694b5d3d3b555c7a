"""Replay recorded traffic through decoding and the rules on event time, as fast as the machine allows.

Each input line is ``{"ts": "<ISO-8601>", "topic": "...", "payload": "..."}`` (payload text, or ``"b64:..."``
for binary). Messages are decoded with the shipped device registry and the bindings of a site file, meter
totals are normalised as the pipeline does, and the engine sees every reading at its line's time. Sweeps run
on the same 30-second grid as in production, at simulated time; the nightly learning job runs at its local
time against the replayed readings, held in memory (`hub.store.memory`) unless a SQLite store is asked
for. Nothing touches live alerts or channels, and because only event time is used the output is the same
whatever the replay speed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from hub.clock import FrozenClock
from hub.devices.convert import json_document
from hub.devices.counters import CounterTracker
from hub.devices.errors import DeviceError
from hub.devices.model import Binding
from hub.devices.ranges import RangeError
from hub.devices.registry import DeviceRegistry
from hub.models import AlertCandidate, RawMessage, Reading
from hub.rules.errors import RulesError
from hub.store.base import TimeSeriesStore

STORE_BATCH = 20_000


@dataclass(frozen=True, slots=True)
class ReplayLine:
    """One recorded message."""

    ts: datetime
    topic: str
    payload: bytes


def parse_line(text: str | bytes, where: str) -> ReplayLine:
    """One JSONL line (text, or UTF-8 bytes); `RulesError` naming the line when it is not a valid record."""
    try:
        data = json_document(text)
        ts = datetime.fromisoformat(str(data["ts"]).replace("Z", "+00:00"))
        topic = str(data["topic"])
        payload_text = data["payload"]
        if not isinstance(payload_text, str):
            raise TypeError("payload must be a string")
        payload = (
            base64.b64decode(payload_text[4:], validate=True)
            if payload_text.startswith("b64:")
            else payload_text.encode("utf-8")
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise RulesError(f"{where}: not a replay record {{ts, topic, payload}}: {exc}") from exc
    if ts.tzinfo is None:
        raise RulesError(f"{where}: ts {data['ts']!r} has no time zone")
    return ReplayLine(ts.astimezone(UTC), topic, payload)


PROGRESS_EVERY = 50_000  # lines between two progress reports


def read_lines(path: Path, progress: Callable[[int, int], None] | None = None) -> Iterator[ReplayLine]:
    """The records of a JSONL file, in file order (blank lines skipped).

    `progress`, when given, is called with (bytes read, file size) every `PROGRESS_EVERY` lines and at the end.
    """
    try:
        total = path.stat().st_size
        done = 0
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                done += len(raw)
                if progress is not None and number % PROGRESS_EVERY == 0:
                    progress(done, total)
                if raw.strip():
                    yield parse_line(raw, f"{path}:{number}")
        if progress is not None:
            progress(done, total)
    except OSError as exc:
        raise RulesError(f"cannot read {path}: {exc}") from exc


class ReplayRules(Protocol):
    """What replay drives: the engine, or a baseline rule set for comparison."""

    def observe(self, reading: Reading) -> list[AlertCandidate]:
        """Candidates raised by one reading."""
        ...

    def sweep(self, now: datetime) -> list[AlertCandidate]:
        """Candidates raised by timers due at `now`."""
        ...

    def next_due(self) -> datetime | None:
        """The earliest armed timer."""
        ...


@dataclass
class ReplaySummary:
    """What a replay saw and raised."""

    lines: int = 0
    readings: int = 0
    ignored: int = 0
    undecodable: int = 0
    unknown_device: int = 0
    sweeps: int = 0
    learned: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary line."""
        return {
            "lines": self.lines,
            "readings": self.readings,
            "ignored": self.ignored,
            "undecodable": self.undecodable,
            "unknown_device": self.unknown_device,
            "sweeps": self.sweeps,
            "homes_learned": self.learned,
            "from": self.first.isoformat() if self.first else None,
            "to": self.last.isoformat() if self.last else None,
            "alerts": dict(sorted(self.alerts.items())),
            "alerts_total": sum(self.alerts.values()),
        }


def alert_json(candidate: AlertCandidate, first_step: str) -> dict[str, Any]:
    """One output line for a candidate; `first_step`: "elder_check" or "page" (`hub.alerts.policy.first_step`)."""
    return {
        "home": candidate.home,
        "kind": candidate.kind,
        "class": candidate.alert_class,
        "severity": candidate.severity.value,
        "raised_at": candidate.at.isoformat(),
        "device": candidate.device,
        "subject": candidate.subject,
        "cancel": candidate.cancel,
        "explanation": candidate.explanation,
        "first_step": first_step,
    }


class Replayer:
    """Runs lines through decoding and `rules` on a `FrozenClock`; see the module docstring."""

    def __init__(
        self,
        rules: ReplayRules,
        bindings: Mapping[tuple[str, str], Binding],
        *,
        emit: Callable[[AlertCandidate], None],
        sweep_interval_s: float = 30.0,
        store: TimeSeriesStore | None = None,
        learn: Callable[[datetime], Any] | None = None,
        next_learn: Callable[[datetime], datetime] | None = None,
        registry: DeviceRegistry | None = None,
    ) -> None:
        self.rules = rules
        self.bindings = bindings
        self.emit = emit
        self.interval = sweep_interval_s
        self.store = store
        self.learn = learn
        self.next_learn = next_learn
        self.registry = registry or DeviceRegistry.default()
        self.counters = CounterTracker()
        self.clock: FrozenClock | None = None
        self.summary = ReplaySummary()
        self._buffer: list[Reading] = []
        self._learn_at: datetime | None = None

    def _decode(self, line: ReplayLine) -> list[Reading]:
        route = self.registry.route(line.topic)
        if route is None:
            self.summary.ignored += 1
            return []
        binding = self.bindings.get((route.ecosystem, route.external_id))
        if binding is None:
            self.summary.unknown_device += 1
            return []
        try:
            readings = self.registry.decode(
                RawMessage("replay", line.topic, line.payload, line.ts), route, binding
            )
        except RangeError as exc:  # as in the pipeline: the message's possible readings still count
            self.summary.undecodable += 1
            readings = exc.kept
        except DeviceError:
            self.summary.undecodable += 1
            return []
        return [self.counters.normalise(r) for r in readings]

    async def _advance(self, until: datetime) -> None:
        """Run the sweeps and learning jobs due at or before `until`, in time order."""
        assert self.clock is not None
        while True:
            due = self.rules.next_due()
            learn_at = self._learn_at
            # The usual case, once per line: nothing falls due yet (a tick is never before its timer).
            if (due is None or due > until) and (learn_at is None or learn_at > until):
                return
            tick = None
            if due is not None:
                tick = datetime.fromtimestamp(math.ceil(due.timestamp() / self.interval) * self.interval, UTC)
            if learn_at is not None and learn_at <= until and (tick is None or learn_at <= tick):
                self.clock.set(learn_at)
                await self._flush_store()
                assert self.learn is not None and self.next_learn is not None
                self.summary.learned = int(await self.learn(learn_at) or 0)
                self._learn_at = self.next_learn(learn_at)
                continue
            if tick is None or tick > until:
                return
            self.clock.set(tick)
            self.summary.sweeps += 1
            for candidate in self.rules.sweep(tick):
                self._raise(candidate)

    def _raise(self, candidate: AlertCandidate) -> None:
        self.summary.alerts[candidate.kind] += 1
        self.emit(candidate)

    async def _flush_store(self) -> None:
        if self.store is not None and self._buffer:
            await self.store.write(self._buffer)
        self._buffer = []

    async def run(
        self,
        lines: Iterable[ReplayLine] | AsyncIterator[ReplayLine],
        *,
        speed: float = 0.0,
        until: datetime | None = None,
    ) -> ReplaySummary:
        """Replay every line; `speed` > 0 paces it (simulated seconds per wall second), 0 = flat out."""
        started = time.monotonic()
        aiter_lines = lines if isinstance(lines, AsyncIterator) else _aiter(lines)
        async for line in aiter_lines:
            if self.clock is None:
                self.clock = FrozenClock(line.ts)
                self.summary.first = line.ts
                if self.next_learn is not None:
                    self._learn_at = self.next_learn(line.ts)
            if self.summary.last is not None and line.ts < self.summary.last:
                line = ReplayLine(self.summary.last, line.topic, line.payload)  # a late line counts as "now"
            if speed > 0:
                assert self.summary.first is not None
                wait = (line.ts - self.summary.first).total_seconds() / speed - (time.monotonic() - started)
                if wait > 0:
                    await asyncio.sleep(wait)
            await self._advance(line.ts)
            self.clock.set(line.ts)
            self.summary.lines += 1
            self.summary.last = line.ts
            for reading in self._decode(line):
                self.summary.readings += 1
                if self.store is not None:
                    self._buffer.append(reading)
                for candidate in self.rules.observe(reading):
                    self._raise(candidate)
            if len(self._buffer) >= STORE_BATCH:
                await self._flush_store()
        if until is not None:
            await self._advance(until)
        elif self.summary.last is not None:
            await self._advance(self.summary.last)
        await self._flush_store()
        return self.summary


async def _aiter(lines: Iterable[ReplayLine]) -> AsyncIterator[ReplayLine]:
    for line in lines:
        yield line


def next_local_time(tz_name: str, hh: int, mm: int) -> Callable[[datetime], datetime]:
    """A function giving the next occurrence of local hh:mm strictly after a time."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)

    def following(after: datetime) -> datetime:
        local = after.astimezone(tz)
        candidate = local.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if candidate <= local:
            candidate = (local + timedelta(days=1)).replace(hour=hh, minute=mm, second=0, microsecond=0)
        return candidate.astimezone(UTC)

    return following


@dataclass
class SiteRegister:
    """The bindings and home profiles of a site file, loaded through a scratch SQLite register."""

    bindings: dict[tuple[str, str], Binding]
    profiles: dict[str, Any]  # home → HomeProfile
    # home → (an elder of it can answer a wellbeing call, that elder has a phone number)
    reach: dict[str, tuple[bool, bool]] = field(default_factory=dict)


def load_site_register(site: Path, scratch: Path) -> SiteRegister:
    """Load `site` into a new SQLite register under `scratch` and read back bindings and profiles."""
    from hub.register.bindings import load_bindings
    from hub.register.db import make_engine, migrate, session_factory
    from hub.register.site import load_site
    from hub.rules.persistence import elder_reach, load_profiles

    engine = make_engine(f"sqlite:///{scratch / 'replay-register.sqlite'}")
    try:
        migrate(engine)
        sessions = session_factory(engine)
        with sessions.begin() as session:
            load_site(session, site, devices=DeviceRegistry.default())
        with sessions() as session:
            return SiteRegister(load_bindings(session), load_profiles(session), elder_reach(session))
    finally:
        engine.dispose()


async def replay_with_engine(
    lines: Iterable[ReplayLine],
    register: SiteRegister,
    *,
    config: Any = None,
    timezone: str = "Asia/Shanghai",
    emit: Callable[[AlertCandidate], None],
    calendar: Any = None,
    speed: float = 0.0,
    until: datetime | None = None,
    store: Path | None = None,
) -> ReplaySummary:
    """Replay `lines` through the hub's rules engine, learning nightly from the replayed readings.

    The readings stay in memory (only the last `learn_days` are kept) unless `store` names a SQLite
    time-series file to write them to, which the learning then reads back as the hub does.
    """
    from hub.rules.engine import RulesEngine
    from hub.rules.learn_memo import LearnMemo
    from hub.rules.persistence import learn_all
    from hub.rules.settings import RulesConfig
    from hub.store import SqliteStore
    from hub.store.memory import MemoryStore

    config = config or RulesConfig()
    registry = DeviceRegistry.default()
    engine = RulesEngine(config, timezone, sign_capable=sign_capable(registry))
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        return ReplaySummary()
    engine.set_register(register.bindings, register.profiles, first.ts)
    if calendar is not None:
        engine.set_calendar(calendar, first.ts)
    learn_t = config.learn_time
    readings: TimeSeriesStore = (
        SqliteStore(store, synchronous="NORMAL") if store is not None else MemoryStore()
    )
    memo = LearnMemo()
    min_days = min((home.th.routine_min_days for home in engine.homes.values()), default=3)

    async def learn(at: datetime) -> int:
        # Before min_days of history no baseline can be used: skipping the job changes no output.
        if at - first.ts < timedelta(days=min_days):
            return 0
        learned = await learn_all(engine, readings, at, memo)
        if isinstance(readings, MemoryStore):
            # The next job (a day later) reads back learn_days from its own time: older is dead weight.
            readings.forget_before(at - timedelta(days=config.learn_days))
        return learned

    replayer = Replayer(
        engine,
        register.bindings,
        emit=emit,
        sweep_interval_s=config.sweep_interval_s,
        store=readings,
        learn=learn,
        next_learn=next_local_time(timezone, learn_t.hour, learn_t.minute),
        registry=registry,
    )

    def chained() -> Iterator[ReplayLine]:
        yield first
        yield from iterator

    with _quiet_rules_log():
        async with readings:
            return await replayer.run(chained(), speed=speed, until=until)


@contextmanager
def _quiet_rules_log() -> Iterator[None]:
    """Rules' INFO lines (one per nightly learning job) are routine in a replay of weeks: keep warnings only.

    Asked for DEBUG (`-v`), everything is still shown.
    """
    logger = logging.getLogger("hub.rules")
    level = logger.level
    if logger.getEffectiveLevel() >= logging.INFO:
        logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def sign_capable(registry: DeviceRegistry) -> Callable[[str, str], bool]:
    """Whether a device model can carry signs of life (it exposes one of the sign signals)."""
    from hub.rules.state import SIGN_SIGNALS

    def capable(ecosystem: str, model: str) -> bool:
        if not registry.knows(ecosystem, model):
            return False
        return bool(registry.definition(ecosystem, model).exposes & SIGN_SIGNALS)

    return capable
