"""The lease itself, against real PostgreSQL: one holder at a time by the database's clock, a fencing
epoch that rises with every change of owner, and an active that stops before its lease can run out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from hub.alerts.channels.log import LogNotifier
from hub.alerts.tables import OutboxMessage
from hub.alerts.worker import AlertWorker
from hub.cluster import ClusterRole
from hub.config import ClusterConfig, parse_config
from hub.register.db import make_engine, migrate, retryable, session_factory
from hub.register.lease import LeaseLost, Leases, check_held
from hub.standby import ActiveHub, _active_partitioned, keep_lease
from tests.alerts.world import World
from tests.ha.conftest import TcpProxy

PARTITION = 0


@pytest.fixture
def engine(ha_database: str) -> Iterator[Engine]:
    migrate(ha_database)
    engine = make_engine(ha_database)
    yield engine
    engine.dispose()


async def _until_expired(leases: Leases) -> None:
    while not all(s.expired for s in await asyncio.to_thread(leases.states)):  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def test_one_holder_at_a_time_and_every_new_owner_gets_a_higher_epoch(engine: Engine) -> None:
    a, b = Leases(engine, "a", 1.0), Leases(engine, "b", 1.0)
    assert a.acquire(PARTITION) == 1
    assert b.acquire(PARTITION) is None  # held: nobody else may take it
    assert a.acquire(PARTITION) is None  # not even its holder (that would be a second process of "a")
    assert a.renew(PARTITION, 1)
    [state] = a.states()
    assert (state.owner, state.epoch, state.expired) == ("a", 1, False)

    await _until_expired(a)  # a stopped renewing: by the database's clock the lease runs out
    assert not a.renew(PARTITION, 1)  # too late: a must not be active any more
    assert b.acquire(PARTITION) == 2
    assert not a.renew(PARTITION, 1)  # the old epoch is fenced off for good

    b.release(PARTITION, 2)  # a clean stop: the next one need not wait for the lease to run out
    assert a.acquire(PARTITION) == 3


async def test_an_active_cut_off_from_the_database_gives_up_before_its_lease_runs_out(
    engine: Engine, ha_database: str
) -> None:
    cfg = ClusterConfig(lease_s=3.0, renew_s=1.0)
    standby = Leases(engine, "standby", cfg.lease_s)
    async with TcpProxy("127.0.0.1", 5432) as proxy:
        via_proxy = make_engine(ha_database.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/"))
        try:
            active = Leases(via_proxy, "active", cfg.lease_s)
            loop = asyncio.get_running_loop()
            acquired_at = loop.time()
            epoch = await asyncio.to_thread(active.acquire, PARTITION)
            assert epoch == 1
            keeper = asyncio.create_task(keep_lease(active, epoch, cfg, acquired_at))
            await asyncio.sleep(2 * cfg.renew_s)
            assert not keeper.done()  # renewing fine
            await proxy.cut()
            stop_by = await keeper  # the active gives up (and must stop its work by `stop_by`)
            # ... while the lease is still its own, so that the standby cannot be active yet.
            [state] = await asyncio.to_thread(standby.states)
            assert (state.owner, state.expired) == ("active", False)
            assert await asyncio.to_thread(standby.acquire, PARTITION) is None
            assert stop_by - loop.time() < state.remaining_s
        finally:
            await asyncio.to_thread(via_proxy.dispose)
    await _until_expired(standby)
    assert await asyncio.to_thread(standby.acquire, PARTITION) == 2


async def test_an_active_paused_past_its_lease_sends_nothing_when_it_wakes(
    engine: Engine, ha_database: str, tmp_path: Path
) -> None:
    world = World(tmp_path, ha_database)
    old = Leases(engine, "old", 1.0)
    epoch = old.acquire(PARTITION)
    assert epoch is not None
    worker = AlertWorker(
        world.sessions,
        world.escalator,
        {"log": LogNotifier()},
        world.config,
        world.clock,
        fence=lambda session: check_held(session, PARTITION, "old", epoch),
    )
    world.raise_alert()
    await worker.run_once()
    assert worker.sent > 0  # while the lease is held the worker works

    await _until_expired(old)  # "paused": it renewed nothing, and another instance took over
    assert Leases(engine, "new", 1.0).acquire(PARTITION) == epoch + 1
    sent = worker.sent
    fall = world.raise_alert(kind="fall")
    with pytest.raises(LeaseLost):
        await worker.run_once()
    assert worker.sent == sent
    with world.sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.alert_id == fall)).all()
    assert rows and {r.status for r in rows} == {"pending"}  # left for the new active to send


async def test_a_deadlock_victim_is_recognised_as_safe_to_run_again(engine: Engine) -> None:
    """The register writer and the alert worker run a transaction again when PostgreSQL picked it as a
    deadlock victim (`retryable`), and only then."""
    with engine.begin() as conn:
        for p in (10, 11):
            conn.execute(text("INSERT INTO cluster_leases VALUES (:p, 'x', 1, now(), NULL)"), {"p": p})
    first, second = engine.connect(), engine.connect()
    update = text("UPDATE cluster_leases SET epoch = epoch + 1 WHERE partition = :p")
    try:
        first.begin()
        second.begin()
        first.execute(update, {"p": 10})
        second.execute(update, {"p": 11})
        blocked = asyncio.create_task(asyncio.to_thread(first.execute, update, {"p": 11}))
        await asyncio.sleep(0.2)
        outcomes = await asyncio.gather(
            blocked, asyncio.to_thread(second.execute, update, {"p": 10}), return_exceptions=True
        )
        victims = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(victims) == 1 and retryable(victims[0])
    finally:
        first.close()
        second.close()
    with pytest.raises(DBAPIError) as duplicate, engine.begin() as conn:
        conn.execute(text("INSERT INTO cluster_leases VALUES (10, 'x', 1, now(), NULL)"))
    assert not retryable(duplicate.value)


async def test_a_stop_during_a_partition_handover_stops_the_instance_and_gives_its_leases_up(
    engine: Engine, ha_database: str, tmp_path: Path
) -> None:
    """Instance a holds partitions 0 and 1; b comes alive preferring 1, so a ends its term to hand 1 over.
    A stop (SIGTERM cancels the hub's task) that arrives while that term is still stopping must stop a —
    it was swallowed once, and a ran on with its partitions until killed — and must give both leases up
    at once, as a clean stop does."""
    config = parse_config(
        {
            "data_dir": str(tmp_path),
            "register": {"url": ha_database},
            "cluster": {"instance": "a", "partitions": 2, "lease_s": 3.0, "renew_s": 0.2},
        }
    )
    leases = Leases(engine, "a", config.cluster.lease_s)
    loop = asyncio.get_running_loop()
    acquired_at = loop.time()
    held = {p: await asyncio.to_thread(leases.acquire, p) for p in (0, 1)}
    assert held == {0: 1, 1: 1}
    stopping = asyncio.Event()

    async def term(role: ClusterRole, scope: object) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            stopping.set()
            await asyncio.sleep(1.0)  # the term's last batch being made durable

    warm = SimpleNamespace(sessions=session_factory(engine), bindings=None, stale=False)
    active = asyncio.create_task(
        _active_partitioned(
            config,
            warm,
            leases,
            ClusterRole("a"),
            held,
            acquired_at,
            ActiveHub(term, []),  # type: ignore[arg-type]
        )
    )
    await asyncio.sleep(0.3)
    await asyncio.to_thread(Leases(engine, "b", config.cluster.lease_s).heartbeat, [1])
    await asyncio.wait_for(stopping.wait(), 10)  # the handover has begun
    active.cancel()  # the stop
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(active, 10)
    b = Leases(engine, "b", config.cluster.lease_s)
    assert await asyncio.to_thread(b.acquire, 0) == 2  # released: no need to wait for the lease to run out
    assert await asyncio.to_thread(b.acquire, 1) == 2
