"""The ingest pipeline.

Deliveries are decoded at once (pure, cheap) into the current batch. A single flusher makes each batch
durable — readings in the time-series store, quarantine/alerts/counter state in the register, concurrently —
and only then acknowledges the deliveries, so the sources acknowledge upstream after the data is safe.
Batches are flushed in order, one at a time; a failed flush fails its deliveries (nothing acknowledged)
and stops the pipeline: the broker redelivers after a restart (at-least-once, fail closed).

The fast lane: a message whose readings raise an immediate alert (SOS, fall, gas, smoke, leak — the kinds
of `IMMEDIATE_RULES`, cancels included) does not join the routine batch. It goes into a small lane batch
that its own flusher makes durable at once — its alert rows (which wake the alert worker), its readings
and whatever else it derived — beside a routine batch that may be in flight, and acknowledges it after
that. An SOS therefore waits neither for thousands of routine readings nor for their write, and the
routine batch never carries it, so nothing is written twice. Lane batches are flushed in order, one at a
time, so a press and its cancel keep their order. With a `RoutineGate`, routine decoding and flushing wait
while the urgent alert is on its way out (`hub.ingest.gate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hub import metrics
from hub.alerts.store import AlertChange
from hub.clock import Clock
from hub.devices.canary import is_canary
from hub.devices.counters import CounterTracker
from hub.devices.errors import DeviceError, UnknownDeviceError
from hub.devices.model import Binding
from hub.devices.ranges import RangeError
from hub.devices.registry import DeviceRegistry
from hub.ingest.gate import RoutineGate
from hub.ingest.register_writer import CounterKey, RegisterWriter
from hub.models import AlertCandidate, RawMessage, Reading, Severity, Signal
from hub.rules.immediate import IMMEDIATE_KINDS, ImmediateRules
from hub.sources.delivery import Delivery
from hub.store.base import TimeSeriesStore

LOGGER = logging.getLogger(__name__)

# Signals whose raw value is a running total; the tracker makes them monotonic across meter resets.
CUMULATIVE = frozenset({Signal.WATER_TOTAL, Signal.ENERGY_TOTAL})
# A counter's state is persisted at once when its offset changes (a reset was seen) and otherwise at most
# this often. A stale `last_raw` after a crash is harmless while the meter only counts up, and writing every
# meter report to the register cost a quarter of the ingest time.
COUNTER_SAVE_EVERY_S = 300.0
# Net allocations between young garbage collections while the pipeline runs (CPython's default is 700).
GC_YOUNG_THRESHOLD = 20_000


class RuleSink(Protocol):
    """What the pipeline asks of the rules for each reading (the rules engine implements it)."""

    def observe(self, reading: Reading) -> list[AlertCandidate]:
        """Update state with `reading`; return the alert candidates it raises at once."""
        ...


@dataclass(slots=True)
class _Batch:
    deliveries: list[Delivery] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    quarantine: list[tuple[RawMessage, str]] = field(default_factory=list)
    candidates: list[AlertCandidate] = field(default_factory=list)
    counters: set[CounterKey] = field(default_factory=set)
    # Metrics are counted per batch and added up at flush: per-message Prometheus calls cost ~10 % of ingest.
    by_source: dict[str, int] = field(default_factory=dict)
    decoded: int = 0
    ignored: int = 0


class Pipeline:
    """Turns deliveries into durable readings, quarantine entries and alerts."""

    def __init__(
        self,
        *,
        registry: DeviceRegistry,
        bindings: Callable[[], Mapping[tuple[str, str], Binding]],
        store: TimeSeriesStore,
        register: RegisterWriter,
        clock: Clock,
        rules: RuleSink | None = None,
        timezone: str = "Asia/Shanghai",
        batch_max: int = 5000,
        flush_interval: float = 0.02,
        max_pending: int = 100_000,
        on_batch_durable: Callable[[list[Delivery]], None] | None = None,
        on_alerts_committed: Callable[[list[AlertChange]], None] | None = None,
        gate: RoutineGate | None = None,
    ) -> None:
        self._registry = registry
        self._bindings = bindings
        self._store = store
        self._register = register
        # Called (from the commit thread, so it must be thread-safe) right after a register transaction
        # with alert changes committed: the escalation worker sends the outbox rows written in that
        # transaction now instead of at its next poll.
        self._on_alerts_committed = on_alerts_committed
        self._gate = gate
        self._clock = clock
        self._rules: RuleSink = rules or ImmediateRules(timezone)
        self._counters = CounterTracker()
        self._counter_saved: dict[CounterKey, tuple[float, float]] = {}  # key → (offset, saved at, epoch s)
        self._batch_max = batch_max
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        # Observation hook for benchmarks (lag measurement); None in production.
        self._on_batch_durable = on_batch_durable
        self._batch = _Batch()
        self._lane = _Batch()  # messages that raised an immediate alert (see the module docstring)
        self._lane_ready = asyncio.Event()
        self._lane_lock = asyncio.Lock()  # one lane flush at a time, in order
        self._pending = 0
        self._has_data = asyncio.Event()
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._failed: BaseException | None = None
        self.durable_messages = 0  # messages made durable since start (benchmarks read it)
        # When the last message from outside arrived (the hub's own canary does not count): health check.
        self.last_message_at: datetime | None = None

    async def restore(self) -> None:
        """Load persisted counter state so meter totals continue where they were."""
        state = await asyncio.to_thread(self._register.load_counters)
        self._counters.restore(state)
        now = self._clock.now().timestamp()
        self._counter_saved = {key: (offset, now) for key, (_, offset) in state.items()}

    # -- intake ---------------------------------------------------------------------------------------

    async def put(self, delivery: Delivery) -> None:
        """Accept one delivery, waiting while too many are not yet durable (backpressure)."""
        if self._failed is not None:
            delivery.on_failed(self._failed)
            return
        while self._pending >= self._max_pending:
            self._room.clear()
            await self._room.wait()
        self.accept(delivery)

    async def consume(self, source: AsyncIterable[Delivery]) -> None:
        """Feed every delivery of an async-iterator source into the pipeline."""
        async for delivery in source:
            await self.put(delivery)

    def accept(self, delivery: Delivery) -> None:
        """Decode one delivery into the current batch, or the fast lane for an immediate alert (no I/O)."""
        raw = delivery.message
        if not is_canary(raw.topic):
            self.last_message_at = raw.received_at
        reason: str | None = None
        readings: list[Reading] | None
        try:
            if delivery.rejected is not None:  # the source could not even frame it (a garbage stream)
                raise DeviceError(delivery.rejected)
            readings = self._decode(raw)
        except RangeError as exc:  # impossible values are quarantined; the message's other readings count
            reason, readings = str(exc), exc.kept
        except DeviceError as exc:
            reason, readings = str(exc), None
        except Exception as exc:  # a decoder bug must quarantine the message, not stop the pipeline
            LOGGER.exception("decoder crashed on %s", raw.topic)
            reason, readings = f"解码器内部错误 {type(exc).__name__}: {exc}", None
        candidates: list[AlertCandidate] | None = None
        counters: list[CounterKey] | None = None
        if readings:
            normalise, observe = self._counters.normalise, self._rules.observe
            for i, reading in enumerate(readings):
                if reading.signal in CUMULATIVE:
                    reading = readings[i] = normalise(reading)
                    if counters is None:
                        counters = []
                    counters.append((reading.device, reading.signal.value))
                raised = observe(reading)
                if raised:
                    if candidates is None:
                        candidates = []
                    candidates.extend(raised)
        batch = self._batch
        if candidates is not None:
            if any(c.kind in IMMEDIATE_KINDS for c in candidates):
                batch = self._lane
                self._lane_ready.set()
                if self._gate is not None:
                    self._gate.hold()
            elif any(c.severity == Severity.CRITICAL for c in candidates):
                self._full.set()  # a life-threatening alert does not wait for the flush interval
            batch.candidates.extend(candidates)
        batch.by_source[raw.source] = batch.by_source.get(raw.source, 0) + 1
        if reason is not None:
            batch.quarantine.append((raw, reason))
            metrics.QUARANTINED.labels(raw.source).inc()
            delivery.on_quarantined(reason)
        if readings is not None:
            batch.decoded += 1
            batch.readings.extend(readings)
        elif reason is None:
            batch.ignored += 1
        if counters is not None:
            batch.counters.update(counters)
        batch.deliveries.append(delivery)
        self._pending += 1
        if batch is self._batch:
            self._has_data.set()
            if len(batch.deliveries) >= self._batch_max:
                self._full.set()

    def raise_candidates(self, candidates: list[AlertCandidate]) -> None:
        """Alert candidates that come from no message (a rule's timer fired): persisted with the next batch."""
        if candidates:
            self._batch.candidates.extend(candidates)
            self._has_data.set()

    def _decode(self, raw: RawMessage) -> list[Reading] | None:
        route = self._registry.route(raw.topic)
        if route is None:
            return None
        binding = self._bindings().get((route.ecosystem, route.external_id))
        if binding is None:
            raise UnknownDeviceError(
                f"未登记的设备 unknown device: {route.ecosystem} '{route.external_id}' is not in the register"
            )
        return self._registry.decode(raw, route, binding)

    # -- durability -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Flush batches (routine and fast lane) until cancelled; raises if one cannot be made durable.

        While it runs, what the process holds from before (modules, bindings, rule state, ORM metadata:
        most of the heap) is frozen out of the cyclic garbage collector (`gc.freeze`). Every message
        allocates objects that live until their batch is durable, so full collections come often, and
        each one walked the whole start-up heap: a fifth of the CPU of a backlog drain was the collector
        (docs/scaling.md §1), and under load such a collection (200–300 ms) stalled an SOS with everything
        else. Frozen objects are still freed by reference counting; the end of the term
        unfreezes them, so that garbage cycles among them are collected after all. Young collections run
        every `GC_YOUNG_THRESHOLD` allocations instead of 700: nearly every young object of the hot path
        is alive (in the batch) when they run, so they did work for nothing.
        """
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._run_lane())
                group.create_task(self._run_routine())
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()

    async def _run_routine(self) -> None:
        while True:
            await self._has_data.wait()
            if not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._flush_interval)
            if self._gate is not None:
                await self._gate.wait()  # an urgent alert is on its way out: its statements go first
            await self._flush_routine()

    async def _run_lane(self) -> None:
        while True:
            await self._lane_ready.wait()
            await self._flush_lane()

    async def flush(self) -> None:
        """Make everything accepted so far durable (fast lane first), then acknowledge it."""
        await self._flush_lane()
        await self._flush_routine()

    async def _flush_lane(self) -> None:
        async with self._lane_lock:
            batch, self._lane = self._lane, _Batch()
            self._lane_ready.clear()
            await self._make_durable(batch, lane_taken=None if self._gate is None else self._gate.mark())

    async def _flush_routine(self) -> None:
        batch, self._batch = self._batch, _Batch()
        self._has_data.clear()
        self._full.clear()
        await self._make_durable(batch)

    async def _make_durable(self, batch: _Batch, lane_taken: float | None = None) -> None:
        """Write one batch (store and register concurrently), then acknowledge its deliveries.

        `lane_taken`: the gate's mark of when a lane batch was taken (its commit is reported to the gate)."""
        if not batch.deliveries and not batch.candidates:
            return
        started = time.perf_counter()
        try:
            counters = self._counters_to_save(batch.counters)
            changes: list[AlertChange]
            _, changes = await asyncio.gather(
                self._store.write(batch.readings),
                asyncio.to_thread(
                    self._commit_register,
                    batch.quarantine,
                    batch.candidates,
                    counters,
                    self._clock.now(),
                    lane_taken,
                ),
            )
        except BaseException as exc:
            self._failed = exc
            for d in batch.deliveries:
                d.on_failed(exc)
            self._release(len(batch.deliveries))
            raise
        metrics.STORE_WRITE.observe(time.perf_counter() - started)
        saved_at = self._clock.now().timestamp()
        for key, (_, offset) in counters.items():
            self._counter_saved[key] = (offset, saved_at)
        for source, n in batch.by_source.items():
            metrics.MESSAGES.labels(source).inc(n)
        metrics.DECODED.inc(batch.decoded)
        metrics.IGNORED.inc(batch.ignored)
        metrics.READINGS.inc(len(batch.readings))
        metrics.STORE_PENDING.set(self._store.pending())
        for d in batch.deliveries:
            d.on_durable()
        if self._on_batch_durable is not None:
            self._on_batch_durable(batch.deliveries)
        self.durable_messages += len(batch.deliveries)
        self._release(len(batch.deliveries))
        for change in changes:
            if change.opened:
                metrics.ALERTS_OPENED.labels(change.kind).inc()

    def _commit_register(
        self,
        quarantine: list[tuple[RawMessage, str]],
        candidates: list[AlertCandidate],
        counters: dict[CounterKey, tuple[float, float]],
        now: datetime,
        lane_taken: float | None = None,
    ) -> list[AlertChange]:
        changes = self._register.commit(quarantine, candidates, counters, now)
        if lane_taken is not None and self._gate is not None:
            self._gate.lane_committed(lane_taken)  # before the wake: the worker's claim then sees it
        if changes and self._on_alerts_committed is not None:
            # Right after the register commit, from this thread: an SOS notification waits neither for
            # the time-series write nor for the acknowledgements (the alert and its outbox are durable).
            self._on_alerts_committed(changes)
        return changes

    def _counters_to_save(self, touched: set[CounterKey]) -> dict[CounterKey, tuple[float, float]]:
        now = self._clock.now().timestamp()
        out: dict[CounterKey, tuple[float, float]] = {}
        for key in touched:
            last_raw, offset = self._counters.state_of(*key)
            saved = self._counter_saved.get(key)
            if saved is None or saved[0] != offset or now - saved[1] >= COUNTER_SAVE_EVERY_S:
                out[key] = (last_raw, offset)
        return out

    def _release(self, n: int) -> None:
        self._pending -= n
        metrics.QUEUE_DEPTH.set(self._pending)
        if self._pending < self._max_pending:
            self._room.set()

    @property
    def failed(self) -> BaseException | None:
        """The error that stopped the pipeline, if any."""
        return self._failed

    @property
    def pending(self) -> int:
        """Deliveries accepted but not yet durable."""
        return self._pending
