"""Routine ingest steps aside while an SOS is on its way out, and never for longer than its bound (real
SQLite store and register, the real alert service and worker; the SMS provider is held by an event)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.channels.base import Notification
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertsConfig
from hub.app import BindingCache
from hub.clock import FrozenClock
from hub.devices.registry import DeviceRegistry
from hub.ingest.gate import RoutineGate
from hub.ingest.pipeline import Pipeline
from hub.ingest.register_writer import RegisterWriter
from hub.models import RawMessage
from hub.sources.delivery import Delivery
from hub.store import SqliteStore
from tests.ingest.test_fast_lane import T0, until
from tests.site_fixture import make_site

ROUTINE = 200
SOS_TOPIC = "zigbee2mqtt/h001_sos"


def _site(tmp_path: Path, register_url: str) -> tuple[sessionmaker[Session], FrozenClock, BindingCache]:
    """The test site's register, a frozen clock and its bindings, loaded."""
    sessions = make_site(tmp_path, register_url)
    bindings = BindingCache(sessions)
    bindings.reload()
    return sessions, FrozenClock(T0), bindings


def _pipeline(
    sessions: sessionmaker[Session],
    clock: FrozenClock,
    bindings: BindingCache,
    store: SqliteStore,
    gate: RoutineGate,
    alerts: AlertService | None = None,
) -> Pipeline:
    """The real pipeline with `gate`, wired to `alerts` as the hub wires it (no alert service: none)."""
    return Pipeline(
        registry=DeviceRegistry.default(),
        bindings=bindings.get,
        store=store,
        register=RegisterWriter(
            sessions, on_alert_changes=None if alerts is None else alerts.escalator.on_alert_changes
        ),
        clock=clock,
        on_alerts_committed=None if alerts is None else alerts.committed,
        gate=gate,
    )


class HeldSms:
    """An SMS channel whose provider answers only when the test says so."""

    name = "twilio_sms"

    def __init__(self) -> None:
        self.called = asyncio.Event()
        self.answer = asyncio.Event()
        self.sent: list[Notification] = []

    async def notify(self, notification: Notification) -> str:
        self.called.set()
        await self.answer.wait()
        self.sent.append(notification)
        return f"SM{len(self.sent)}"


def _send(pipeline: Pipeline, acked: list[str], topic: str, payload: bytes, at: datetime) -> None:
    pipeline.accept(Delivery(RawMessage("mqtt", topic, payload, at), on_durable=lambda: acked.append(topic)))


def _routine(pipeline: Pipeline, acked: list[str]) -> None:
    for i in range(ROUTINE):
        body = b'{"occupancy":%s,"linkquality":40}' % (b"true" if i % 2 else b"false")
        at = T0 - timedelta(seconds=10) + timedelta(milliseconds=i)
        _send(pipeline, acked, "zigbee2mqtt/h002_motion", body, at)


async def test_routine_readings_wait_until_the_sos_notification_is_sent(
    tmp_path: Path, register_url: str
) -> None:
    sessions, clock, bindings = _site(tmp_path, register_url)
    sms = HeldSms()
    gate = RoutineGate(hold_max_s=60)  # only the worker's round may release it in this test
    acked: list[str] = []
    async with (
        SqliteStore(tmp_path / "ts.sqlite") as store,
        AlertService(
            AlertsConfig(), sessions, clock, extra_channels=[sms], on_round=gate.round_done
        ) as alerts,
    ):
        pipeline = _pipeline(sessions, clock, bindings, store, gate, alerts)
        tasks = [asyncio.create_task(alerts.worker.run()), asyncio.create_task(pipeline.run())]
        try:
            async with asyncio.timeout(30):  # a guard against a hang, not a measurement
                _send(pipeline, acked, SOS_TOPIC, b'{"action":"emergency","linkquality":90}', T0)
                _routine(pipeline, acked)
                await sms.called.wait()  # the SOS is durable and its first SMS is with the provider
                await until(lambda: SOS_TOPIC in acked)
                # Ten routine flush intervals pass: the routine readings are still not written.
                await asyncio.sleep(0.2)
                assert acked == [SOS_TOPIC]
                assert pipeline.pending == ROUTINE
                assert gate.held

                sms.answer.set()  # the SMS is out: routine ingest goes on, nothing was lost
                await until(lambda: pipeline.pending == 0)
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    assert not gate.held
    assert gate.holds == 1
    assert len(acked) == ROUTINE + 1
    assert sms.sent and sms.sent[0].alert_id > 0


async def test_routine_readings_wait_no_longer_than_the_bound_when_nothing_is_sent(
    tmp_path: Path, register_url: str
) -> None:
    sessions, clock, bindings = _site(tmp_path, register_url)
    gate = RoutineGate(hold_max_s=0.3)
    acked: list[str] = []
    async with SqliteStore(tmp_path / "ts.sqlite") as store:
        # No alert worker at all: nothing ever reports the SOS sent, the bound alone releases routine work.
        pipeline = _pipeline(sessions, clock, bindings, store, gate)
        flusher = asyncio.create_task(pipeline.run())
        try:
            async with asyncio.timeout(30):
                started = time.monotonic()
                _send(pipeline, acked, SOS_TOPIC, b'{"action":"emergency","linkquality":90}', T0)
                _routine(pipeline, acked)
                await until(lambda: pipeline.pending == 0)
                waited = time.monotonic() - started
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
    assert len(acked) == ROUTINE + 1
    assert acked[0] == SOS_TOPIC  # the lane went first; the routine batch waited for the bound
    assert waited >= 0.29
    assert not gate.held


class Ticks:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


async def test_the_gate_opens_only_for_a_round_that_saw_every_accepted_sos_and_keeps_a_duty_cycle() -> None:
    ticks = Ticks()
    gate = RoutineGate(hold_max_s=60, monotonic=ticks)
    gate.hold()  # SOS 1 accepted at 100.0
    assert gate.held
    ticks.t = 100.01
    taken = gate.mark()  # the lane batch with SOS 1 is taken
    ticks.t = 100.012
    gate.hold()  # SOS 2 accepted after the batch was taken: the next lane batch carries it
    ticks.t = 100.015
    gate.lane_committed(taken)
    ticks.t = 100.02
    gate.round_done(claim_started=100.014)  # a round that claimed before the commit saw nothing of it
    assert gate.held
    gate.round_done(claim_started=100.016)  # saw SOS 1, but SOS 2 is not committed yet
    assert gate.held
    taken = gate.mark()
    ticks.t = 100.03
    gate.lane_committed(taken)
    ticks.t = 100.05
    gate.round_done(claim_started=100.031)
    assert not gate.held  # held 50 ms, so free for at least 50 ms now

    ticks.t = 100.09
    gate.hold()  # within the free time: routine work is not held again
    assert not gate.held
    ticks.t = 100.101
    gate.hold()
    assert gate.held
    assert gate.holds == 2
    gate.lane_committed(gate.mark())
    gate.round_done(claim_started=ticks.t)
    await asyncio.wait_for(gate.wait(), 1)  # returns at once once free
    assert not gate.held
