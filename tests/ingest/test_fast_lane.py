"""The fast lane: an SOS becomes an alert and a notification while a large routine batch is still being
written, is acknowledged only once durable, and is written once (real SQLite store and register, the real
alert service; the slow store is held by an event, not by timing)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from sqlalchemy import select

from hub.alerts.service import AlertService
from hub.alerts.settings import AlertsConfig
from hub.alerts.store import AlertChange
from hub.app import BindingCache
from hub.clock import FrozenClock
from hub.devices.registry import DeviceRegistry
from hub.ingest.pipeline import Pipeline
from hub.ingest.register_writer import RegisterWriter
from hub.models import RawMessage, Reading, Signal
from hub.register.models import Alert
from hub.sources.delivery import Delivery
from hub.store import SqliteStore
from tests.site_fixture import make_site

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
ROUTINE = 3000  # motion reports in the routine batch that is held in its store write


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until `condition` holds (the caller bounds the wait)."""
    while not condition():  # noqa: ASYNC110  (the conditions are plain lists and counters, not events)
        await asyncio.sleep(0.005)


class HeldStore:
    """A real SQLite store whose first write (the routine batch) waits until the test opens `gate`."""

    def __init__(self, path: Path) -> None:
        self.inner = SqliteStore(path)
        self.gate = asyncio.Event()
        self.held = asyncio.Event()  # the first write has started and is waiting at the gate
        self.written: list[Reading] = []
        self._calls = 0

    async def __aenter__(self) -> HeldStore:
        await self.inner.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.inner.__aexit__(exc_type, exc, tb)

    async def write(self, readings: Sequence[Reading]) -> None:
        self._calls += 1
        if self._calls == 1:
            self.held.set()
            await self.gate.wait()
        await self.inner.write(readings)
        self.written.extend(readings)

    async def query(self, home: str, signal: Signal | None, start: datetime, end: datetime) -> list[Reading]:
        return await self.inner.query(home, signal, start, end)

    async def query_homes(
        self, homes: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Reading]]:
        return await self.inner.query_homes(homes, start, end)

    async def latest(self, home: str | None = None) -> list[Reading]:
        return await self.inner.latest(home)

    def pending(self) -> int:
        return self.inner.pending()


async def test_an_sos_is_alerted_and_notified_while_a_routine_batch_is_still_being_written(
    tmp_path: Path, register_url: str
) -> None:
    sessions = make_site(tmp_path, register_url)
    clock = FrozenClock(T0)
    bindings = BindingCache(sessions)
    bindings.reload()
    store = HeldStore(tmp_path / "ts.sqlite")
    acked: list[str] = []
    committed: list[AlertChange] = []
    sos_committed = asyncio.Event()
    loop = asyncio.get_running_loop()

    async with store, AlertService(AlertsConfig(), sessions, clock) as alerts:

        def on_committed(changes: list[AlertChange]) -> None:  # from the commit thread
            committed.extend(changes)
            alerts.committed(changes)
            loop.call_soon_threadsafe(sos_committed.set)

        pipeline = Pipeline(
            registry=DeviceRegistry.default(),
            bindings=bindings.get,
            store=store,
            register=RegisterWriter(sessions, on_alert_changes=alerts.escalator.on_alert_changes),
            clock=clock,
            on_alerts_committed=on_committed,
        )

        def send(topic: str, payload: bytes, at: datetime) -> None:
            raw = RawMessage("mqtt", topic, payload, at)
            pipeline.accept(Delivery(raw, on_durable=lambda: acked.append(topic)))

        worker = asyncio.create_task(alerts.worker.run())
        flusher = asyncio.create_task(pipeline.run())
        try:
            for i in range(ROUTINE):
                body = b'{"occupancy":%s,"linkquality":40}' % (b"true" if i % 2 else b"false")
                send("zigbee2mqtt/h001_motion", body, T0 - timedelta(seconds=10) + timedelta(milliseconds=i))
            # A guard against a hang, not a measurement: without the lane the SOS waits for the gate.
            async with asyncio.timeout(30):
                await store.held.wait()  # the routine batch is in its store write, and stays there

                send("zigbee2mqtt/h001_sos", b'{"action":"emergency","linkquality":90}', T0)
                await sos_committed.wait()
                await until(lambda: bool(alerts.log.sent))  # the commit woke the worker; the clock is frozen

                # The SOS is an alert, a notification has gone out and the SOS is acknowledged (durable) ...
                with sessions() as s:
                    rows = s.execute(select(Alert.kind, Alert.count)).all()
                assert [tuple(row) for row in rows] == [("sos", 1)]
                assert [c.kind for c in committed] == ["sos"]
                assert alerts.log.sent[0].alert_id == committed[0].alert_id
                await until(lambda: "zigbee2mqtt/h001_sos" in acked)
                # ... while the routine batch is still held in its write: none of it is acknowledged.
                assert not store.gate.is_set()
                assert acked == ["zigbee2mqtt/h001_sos"]

            store.gate.set()
            async with asyncio.timeout(30):
                await until(lambda: pipeline.pending == 0)
        finally:
            for task in (flusher, worker):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    assert len(acked) == ROUTINE + 1
    # The routine batch did not carry the SOS: its reading was written once, its alert opened once.
    assert [r.device for r in store.written if r.signal is Signal.SOS] == ["H001-sos"]
    assert sum(r.signal is Signal.MOTION for r in store.written) == ROUTINE
    with sessions() as s:
        assert s.scalars(select(Alert.count)).all() == [1]
