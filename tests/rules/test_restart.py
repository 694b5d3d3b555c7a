"""Timers and learned baselines survive a restart: snapshot in the register plus the time series since."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.store import list_alerts
from hub.app import RunningHub, run_hub
from hub.clock import FrozenClock
from hub.config import parse_config
from hub.models import RawMessage, Reading, Signal
from hub.register.db import make_engine as make_db_engine
from hub.register.db import session_factory
from hub.rules import persistence
from hub.rules.persistence import load_snapshot, restore_engine, save_snapshot, write_snapshot_rows
from hub.rules.state import Baseline
from hub.sources.delivery import Delivery
from hub.store import SqliteStore
from tests.rules.helpers import kinds, local, make_engine, motion, reading, sweep_until
from tests.services.mosquitto import free_port
from tests.site_fixture import make_site

BASELINE = Baseline(5, 400.0, 15.0, 100.0, 12.0, 90.0, 1290.0, 20.0)  # too few days to be used yet


async def test_snapshot_and_time_series_restore_the_window(register_url: str, tmp_path: Path) -> None:
    """Stop in the middle of a window (snapshot at 10:00, readings after it only in the time series)."""
    sessions = session_factory(make_db_engine(register_url))
    engine = make_engine("key")
    motion(engine, local(2, 9))
    engine.set_baseline("H1", BASELINE)
    with sessions.begin() as session:
        save_snapshot(session, engine.snapshot(), local(2, 10))
    async with SqliteStore(tmp_path / "ts.sqlite") as store:
        # After the snapshot the elder was active once more; the hub then stopped at 12:00.
        later = [
            reading("H1", "motion", Signal.MOTION, v, local(2, 11) + timedelta(seconds=s))
            for v, s in ((0, 0), (1, 1))
        ]
        await store.write(later)
        restarted = make_engine("key", at=local(14, 0))
        with sessions() as session:
            snapshot = load_snapshot(session)
        await restore_engine(restarted, snapshot, store, local(2, 14))
    home = restarted.homes["H1"]
    assert home.learned == BASELINE
    assert home.last_sign == (local(2, 11) + timedelta(seconds=1)).timestamp()
    assert "inactivity" not in kinds(sweep_until(restarted, local(2, 23)))
    raised = sweep_until(restarted, local(2, 23, 1))
    assert kinds(raised) == ["inactivity"]
    assert raised[0].at - (local(2, 11) + timedelta(seconds=1)) < timedelta(hours=12, minutes=1)


class _CountingStore(SqliteStore):
    """A SQLite store that counts the restore's round trips."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[str] = []

    async def query(self, home: str, signal: Signal | None, start: datetime, end: datetime) -> list[Reading]:
        self.calls.append("query")
        return await super().query(home, signal, start, end)

    async def query_homes(
        self, homes: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Reading]]:
        self.calls.append(f"query_homes {len(homes)}")
        return await super().query_homes(homes, start, end)


async def test_a_restore_reads_many_homes_a_query_and_replays_each_from_its_own_snapshot(
    register_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H1 snapshotted at 10:00, H2 at 12:00, H3 never: one query reads H3 and H1 (from H3's start), each
    home replays only what came after its own snapshot, and no home costs a query of its own."""
    monkeypatch.setattr(persistence, "RESTORE_HOMES_PER_QUERY", 2)
    codes = ("H1", "H2", "H3")
    sessions = session_factory(make_db_engine(register_url))
    engine = make_engine("key", codes=codes)
    for code in codes[:2]:
        motion(engine, local(2, 9), home=code)
    snap = engine.snapshot()
    with sessions.begin() as session:
        write_snapshot_rows(session, {"H1": snap["H1"]}, local(2, 10))
        write_snapshot_rows(session, {"H2": snap["H2"]}, local(2, 12))

    def active(code: str, at: datetime) -> list[Reading]:
        return [reading(code, "motion", Signal.MOTION, v, at + timedelta(seconds=v)) for v in (0, 1)]

    async with _CountingStore(tmp_path / "ts.sqlite") as store:
        # H1's 9:30 and H2's 11:00 activity are in their snapshots already: replayed again, they would
        # count twice (H1's comes back with H3's, read from H3's earlier start).
        await store.write(
            active("H1", local(2, 9, 30))
            + active("H1", local(2, 11))
            + active("H2", local(2, 11))
            + active("H2", local(2, 13))
            + active("H3", local(2, 11))
        )
        restarted = make_engine("key", codes=codes, at=local(2, 14))
        with sessions() as session:
            snapshot = load_snapshot(session)
        replayed = await restore_engine(restarted, snapshot, store, local(2, 14))

    assert replayed == 6
    assert store.calls == ["query_homes 2", "query_homes 1"]
    homes = restarted.homes
    assert homes["H1"].last_sign == (local(2, 11) + timedelta(seconds=1)).timestamp()
    assert homes["H2"].last_sign == (local(2, 13) + timedelta(seconds=1)).timestamp()
    assert homes["H3"].since == local(2, 11).timestamp()
    assert homes["H3"].last_sign == (local(2, 11) + timedelta(seconds=1)).timestamp()


async def test_a_partitioned_instance_replaces_only_its_own_homes_snapshot_rows(register_url: str) -> None:
    """Two instances save snapshots of their own partitions: neither deletes the other's homes' state."""
    sessions = session_factory(make_db_engine(register_url))
    engine = make_engine("key")
    for home in ("H1", "H2"):
        motion(engine, local(2, 9), home=home)
    snapshot = engine.snapshot()
    with sessions.begin() as session:
        save_snapshot(session, {"H1": snapshot["H1"]}, local(2, 10), owns=lambda code: code == "H1")
        save_snapshot(session, {"H2": snapshot["H2"]}, local(2, 10), owns=lambda code: code == "H2")
    with sessions.begin() as session:  # H1's owner saves again: H2's row stays
        save_snapshot(session, {"H1": snapshot["H1"]}, local(2, 11), owns=lambda code: code == "H1")
    with sessions() as session:
        stored = load_snapshot(session)
    assert {code: saved_at for code, (_, saved_at) in stored.items()} == {
        "H1": local(2, 11),
        "H2": local(2, 10),
    }


@pytest.fixture
async def hub_runner(tmp_path: Path) -> AsyncIterator[Any]:
    """Start and stop in-process hubs on one data directory and one frozen clock."""
    tasks: list[asyncio.Task[None]] = []
    make_site(tmp_path)

    async def start(clock: FrozenClock) -> tuple[RunningHub, asyncio.Task[None]]:
        config = parse_config(
            {"data_dir": str(tmp_path), "http": {"port": free_port()}, "mqtt": {"embedded_port": free_port()}}
        )
        started: asyncio.Future[RunningHub] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_hub(config, clock=clock, started=started))
        tasks.append(task)
        done, _ = await asyncio.wait({task, started}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        return started.result(), task

    yield start
    for task in tasks:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _settle(hub: RunningHub) -> None:
    for _ in range(300):
        if hub.pipeline.pending == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the pipeline did not make the messages durable")


def _inactivity(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    with sessions() as session:
        return [a for a in list_alerts(session) if a["kind"] == "inactivity" and a["home"] == "H001"]


async def test_hub_restart_in_the_middle_of_a_window_still_alerts_on_time(hub_runner: Any) -> None:
    clock = FrozenClock(local(2, 10))
    hub, task = await hub_runner(clock)
    assert hub.rules is not None
    for payload in (b'{"occupancy":false}', b'{"occupancy":true}'):
        await hub.pipeline.put(Delivery(RawMessage("mqtt", "zigbee2mqtt/h001_motion", payload, clock.now())))
        clock.advance(timedelta(seconds=1))
    await _settle(hub)
    last_sign = clock.now() - timedelta(seconds=1)
    hub.rules.engine.set_baseline("H001", BASELINE)  # as the nightly job would have
    task.cancel()  # stop the hub 5 hours into the 12-hour window of this key target
    await asyncio.gather(task, return_exceptions=True)

    clock.set(local(2, 15))
    hub, task = await hub_runner(clock)
    assert hub.rules is not None
    assert hub.rules.engine.homes["H001"].learned == BASELINE
    clock.set(last_sign + timedelta(hours=12) - timedelta(minutes=1))
    assert "inactivity" not in kinds(await hub.rules.sweep_now())
    clock.set(last_sign + timedelta(hours=12, seconds=30))
    assert "inactivity" in kinds(await hub.rules.sweep_now())
    await hub.pipeline.flush()
    alerts = _inactivity(hub.sessions)
    assert len(alerts) == 1
    opened = datetime.fromisoformat(alerts[0]["opened_at"])
    assert timedelta(hours=12) <= opened - last_sign <= timedelta(hours=12, seconds=30)
