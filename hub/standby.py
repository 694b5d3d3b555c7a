"""Hot standby and partitioned instances: which instance runs the active hub, and for which homes.

On a PostgreSQL register each hub process is one instance of a cluster. It waits as a standby until it wins
a lease (`hub.register.lease`), runs the active hub while it keeps renewing it, and stops that work before the
lease can run out when it cannot (self-fencing). With `cluster.partitions` > 1 the homes are split into
partitions, each with its own lease, and `hub.cluster.plan` says which ones this instance should own.
The active hub itself is wired in `hub.app`, which hands its "run one active term" coroutine function in
(`RunActive`), so that this module does not import the wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from hub.cluster import ClusterRole, HomeScope, PartitionLease, Plan, partition_of, plan
from hub.config import ClusterConfig, Config
from hub.devices.model import Binding
from hub.failure import HubStopped
from hub.register.bindings import BINDING_REFRESH_S
from hub.register.db import make_engine
from hub.register.errors import RegisterError
from hub.register.lease import LeaseLost, Leases, check_held, home_codes
from hub.runtime import cancel_and_wait
from hub.web.api import build_standby_app
from hub.web.server import listen

LOGGER = logging.getLogger(__name__)


class Reloads(Protocol):
    """The bindings a standby keeps fresh for a takeover."""

    def reload(self) -> None:
        """Read them from the register again (blocking; call in a thread)."""


class Warm(Protocol):
    """What a hub keeps ready before it may be active (`hub.app` builds it): the register's sessions and
    the bindings, and whether their last reload failed (then the takeover reloads them first)."""

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The register's sessions."""

    @property
    def bindings(self) -> Reloads:
        """The device bindings, reloaded while standing by."""

    stale: bool


# Runs one active term of the hub as `role` over `scope`'s homes (None: every home), until cancelled or a
# part fails; a part that fails appends its `HubStopped` to the list `run_cluster` is given.
RunActive = Callable[[ClusterRole, "PartitionScope | None"], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class ActiveHub:
    """What `hub.app.run_hub` hands to the orchestration: how to `run` one active term, and the list where
    a term's failed part leaves why it stopped the hub (cleared when that was only the lease being lost)."""

    run: RunActive
    stops: list[HubStopped]


# -- hot standby ------------------------------------------------------------------------------------------

# The one partition until partitioned instances are built: one lease for every home.
PARTITION = 0
# Exit status of an active that could not stop its work before its lease ran out: the process ends at once
# (nothing is lost: what was not durable was not acknowledged) and its supervisor starts it again as a standby.
EXIT_FENCED = 75


async def run_cluster(config: Config, warm: Warm, hub: ActiveHub) -> None:
    """Standby until the lease is won, active while it is held, standby again when it is lost; forever."""
    cfg = config.cluster
    role = ClusterRole(cfg.instance_name)
    engine = await asyncio.to_thread(make_engine, config.register_url)  # leases never wait behind batches
    leases = Leases(engine, role.instance, cfg.lease_s)
    LOGGER.info(
        "集群实例 %s：热备模式（PostgreSQL 登记库），租约 %g 秒，每 %g 秒续约",
        role.instance,
        cfg.lease_s,
        cfg.renew_s,
    )
    try:
        if cfg.partitions > 1:
            await _run_partitioned(config, warm, leases, role, hub)
            return
        while True:
            epoch, acquired_at = await _standby(config, warm, leases, role)
            role.set_active(epoch, [PARTITION])
            LOGGER.warning("实例 %s 成为主用 (active)，租约 epoch %d", role.instance, epoch)
            await _active(config, leases, role, epoch, acquired_at, hub)
            role.set_standby()
            LOGGER.warning("实例 %s 转为备用 (standby)", role.instance)
    finally:
        await asyncio.to_thread(engine.dispose)


async def _standby(config: Config, warm: Warm, leases: Leases, role: ClusterRole) -> tuple[int, float]:
    """Serve /healthz and /metrics as a standby, keep the bindings fresh, and try for the lease every
    `renew_s` (or right when the holder's runs out); return its epoch and when it was taken (loop time)."""
    loop = asyncio.get_running_loop()
    role.set_standby()
    runner = web.AppRunner(build_standby_app(role, config.web), access_log=None)
    await runner.setup()
    try:
        await listen(runner, config.http.host, config.http.port)
        refresh = asyncio.create_task(_refresh_while_standby(warm), name="bindings")
        told = ""
        try:
            while True:
                wait = config.cluster.renew_s
                try:
                    # Read first: trying to take a held lease would lock its row under the holder's renewal.
                    held = [s for s in await asyncio.to_thread(leases.states) if s.partition == PARTITION]
                    if not held or held[0].expired:
                        sent = loop.time()
                        epoch = await asyncio.to_thread(leases.acquire, PARTITION)
                        if epoch is not None:
                            return epoch, sent
                    role.last_error = ""
                    if held and not held[0].expired:
                        # Wake just after the holder's lease runs out rather than up to renew_s later.
                        wait = min(wait, held[0].remaining_s + 0.02)
                        if told != held[0].owner:
                            told = held[0].owner
                            LOGGER.info("备用：主用实例是 %s（epoch %d）", told, held[0].epoch)
                except RegisterError as exc:
                    if role.last_error != str(exc):
                        LOGGER.error("备用实例无法访问登记库 the standby cannot reach the register: %s", exc)
                    role.last_error = str(exc)
                    told = ""
                await asyncio.sleep(wait)
        finally:
            await cancel_and_wait(refresh)
    finally:
        await runner.cleanup()


async def _refresh_while_standby(warm: Warm) -> None:
    """Keep the bindings fresh for a takeover; a failed reload is logged and tried again (a standby that
    cannot read the register says so in /healthz, and must not stop for it)."""
    while True:
        await asyncio.sleep(BINDING_REFRESH_S)
        try:
            await asyncio.to_thread(warm.bindings.reload)
            warm.stale = False
        except Exception as exc:  # any driver error: the next reload tries again, the takeover reloads
            warm.stale = True
            LOGGER.warning("备用实例刷新设备绑定失败 the standby could not reload the bindings: %s", exc)


async def _active(
    config: Config,
    leases: Leases,
    role: ClusterRole,
    epoch: int,
    acquired_at: float,
    hub: ActiveHub,
) -> None:
    """Run the hub while the lease is renewed; when it cannot be, stop the hub before the lease runs out."""
    loop = asyncio.get_running_loop()
    keeper = asyncio.create_task(keep_lease(leases, epoch, config.cluster, acquired_at), name="lease")
    running = asyncio.create_task(hub.run(role, None), name="active hub")
    try:
        await asyncio.wait({running, keeper}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # A clean stop: the last batch becomes durable while the lease is still renewed, then the lease
        # is given up so that the standby takes over at once instead of after lease_s.
        await cancel_and_wait(running)
        await cancel_and_wait(keeper)
        with contextlib.suppress(RegisterError):
            await asyncio.to_thread(leases.release, PARTITION, epoch)
        raise
    if running.done():
        await cancel_and_wait(keeper)
        failure = None if running.cancelled() else running.exception()
        if failure is not None and isinstance(failure.__cause__, LeaseLost):
            LOGGER.critical("%s", failure.__cause__)  # a step found the lease gone: back to standby
            hub.stops.clear()
            return
        with contextlib.suppress(RegisterError):
            await asyncio.to_thread(leases.release, PARTITION, epoch)
        running.result()  # the hub stopped itself: its HubStopped ends the process (fail closed)
        return
    stop_by = keeper.result()
    LOGGER.critical(
        "实例 %s 无法续约，在租约到期前停止主用工作 (self-fencing: the lease could not be renewed)",
        role.instance,
    )
    running.cancel()
    done, _ = await asyncio.wait({running}, timeout=max(0.0, stop_by - loop.time()))
    if not done:
        LOGGER.critical("主用工作未能在租约到期前停止，进程立即退出 (exit %d)", EXIT_FENCED)
        logging.shutdown()
        os._exit(EXIT_FENCED)  # nothing is lost: what was not durable was not acknowledged to the broker
    if not running.cancelled() and running.exception() is not None:
        LOGGER.error("停止主用工作时出错 while stopping the active work: %s", running.exception())


async def keep_lease(leases: Leases, epoch: int, cfg: ClusterConfig, renewed_at: float) -> float:
    """Renew every `renew_s` (sooner after a failure); return, with the loop time by which the active work
    must have stopped, once the lease is lost or could not be renewed for two thirds of `lease_s`.

    Times are the loop's monotonic clock from just before each statement was sent: the database set the
    expiry at least that late, so the local deadline is never later than the database's.
    """
    fenced = await keep_leases(leases, {PARTITION: epoch}, cfg, renewed_at, None)
    assert isinstance(fenced, _Fenced)  # without a planner there is no plan to return
    return fenced.stop_by


# -- partitioned instances ----------------------------------------------------------------------------------


def partition_client_id(config: Config, partition: int) -> str:
    """The MQTT client id of `partition`'s broker session: whichever instance owns the partition resumes
    the same session, so what the broker queued for it while it moved is delivered to the new owner."""
    return f"{config.mqtt.client_id}-p{partition}"


class PartitionScope:
    """The partitions one active term owns: which homes, devices and topic filters are its."""

    def __init__(self, count: int, owned: list[int], sessions: sessionmaker[Session]) -> None:
        self.count = count
        self.owned = sorted(owned)
        self._owned = frozenset(owned)
        self.system = 0 in self._owned
        self._sessions = sessions
        self._scope = HomeScope(frozenset(), self.system)

    def owns(self, home_code: str) -> bool:
        """True for a home of an owned partition."""
        return partition_of(home_code, self.count) in self._owned

    def refresh(self) -> None:
        """Read which register ids the owned homes have (blocking; call in a thread)."""
        with self._sessions() as session:
            homes = home_codes(session)
        self._scope = HomeScope(frozenset(i for i, code in homes if self.owns(code)), self.system)

    async def refresh_forever(self, every: float = BINDING_REFRESH_S) -> None:
        """Refresh every `every` seconds (homes added by `eldercare-hub load`)."""
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(self.refresh)

    def home_scope(self) -> HomeScope:
        """The owned homes' ids (for the alert worker's claims)."""
        return self._scope

    def bindings(
        self, every: Callable[[], Mapping[tuple[str, str], Binding]]
    ) -> Callable[[], Mapping[tuple[str, str], Binding]]:
        """`every`, kept to the owned homes' devices."""

        def owned() -> Mapping[tuple[str, str], Binding]:
            return {key: b for key, b in every().items() if self.owns(b.home)}

        return owned


@dataclass(frozen=True)
class _Fenced:
    """The leases could not be renewed: the active work must stop by `stop_by` (loop time)."""

    stop_by: float


async def _run_partitioned(
    config: Config, warm: Warm, leases: Leases, role: ClusterRole, hub: ActiveHub
) -> None:
    """Own partitions as the plan says (`hub.cluster.plan`): standby while none, an active term per set of
    owned partitions; a change of the set ends the term cleanly (last durable batch, then the leases given
    up are released) and starts the next one."""
    held: dict[int, int] = {}
    renewed_at = 0.0  # loop time from before the statements that last set every held lease's expiry
    try:
        while True:
            if not held:
                role.set_standby()
                held, renewed_at = await _standby_partitioned(config, warm, leases, role)
            role.set_active(held[min(held)], sorted(held), held)
            LOGGER.warning(
                "实例 %s 主用分区 %s (epochs %s)",
                role.instance,
                sorted(held),
                [held[p] for p in sorted(held)],
            )
            held, renewed_at = await _active_partitioned(config, warm, leases, role, held, renewed_at, hub)
    finally:
        with contextlib.suppress(RegisterError):
            await asyncio.to_thread(leases.goodbye)


async def _plan(config: Config, leases: Leases) -> Plan:
    """Say this instance is alive, read the others and the leases, and plan (blocking parts in threads)."""
    cfg = config.cluster
    await asyncio.to_thread(leases.heartbeat, cfg.prefer)
    live = await asyncio.to_thread(leases.live)
    live.setdefault(leases.instance, list(cfg.prefer))
    states = await asyncio.to_thread(leases.states)
    rows = [PartitionLease(s.partition, s.owner, s.remaining_s, s.move_to) for s in states]
    return plan(cfg.partitions, leases.instance, live, rows, cfg.lease_s)


async def _take(leases: Leases, partitions: tuple[int, ...]) -> dict[int, int]:
    """Try for each lease: the ones won, with their epochs."""
    won: dict[int, int] = {}
    for p in partitions:
        epoch = await asyncio.to_thread(leases.acquire, p)
        if epoch is not None:
            won[p] = epoch
    return won


async def _standby_partitioned(
    config: Config, warm: Warm, leases: Leases, role: ClusterRole
) -> tuple[dict[int, int], float]:
    """Serve /healthz and /metrics while owning no partition, plan every `renew_s`; return the leases won
    and the loop time from before they were taken."""
    runner = web.AppRunner(build_standby_app(role, config.web), access_log=None)
    await runner.setup()
    try:
        await listen(runner, config.http.host, config.http.port)
        refresh = asyncio.create_task(_refresh_while_standby(warm), name="bindings")
        try:
            while True:
                try:
                    todo = await _plan(config, leases)
                    sent = asyncio.get_running_loop().time()
                    won = await _take(leases, todo.take)
                    role.last_error = ""
                    if won:
                        return won, sent
                except RegisterError as exc:
                    if role.last_error != str(exc):
                        LOGGER.error("备用实例无法访问登记库 the standby cannot reach the register: %s", exc)
                    role.last_error = str(exc)
                await asyncio.sleep(config.cluster.renew_s)
        finally:
            await cancel_and_wait(refresh)
    finally:
        await runner.cleanup()


async def keep_leases(
    leases: Leases,
    held: Mapping[int, int],
    cfg: ClusterConfig,
    renewed_at: float,
    planner: Callable[[], Awaitable[Plan]] | None,
) -> Plan | _Fenced:
    """Renew every held lease every `renew_s` (sooner after a failure) and (with `planner`) plan: a `Plan`
    with something to do, or `_Fenced` once a lease is lost or could not be renewed for two thirds of
    `lease_s`; times as in `keep_lease`, the single-lease case."""
    loop = asyncio.get_running_loop()
    failed = False
    while True:
        fence_at = renewed_at + cfg.lease_s * 2 / 3
        next_try = loop.time() + cfg.renew_s / 4 if failed else renewed_at + cfg.renew_s
        await asyncio.sleep(max(0.0, min(next_try, fence_at) - loop.time()))
        if loop.time() >= fence_at:
            return _Fenced(renewed_at + cfg.lease_s * 0.9)
        sent = loop.time()
        try:
            async with asyncio.timeout_at(fence_at):
                for p, epoch in held.items():
                    if not await asyncio.to_thread(leases.renew, p, epoch):
                        LOGGER.critical(
                            "分区 %d 的租约已不属于本实例 the lease was lost (epoch %d)", p, epoch
                        )
                        return _Fenced(loop.time())  # another instance may be active already: stop now
        except TimeoutError:
            failed = True
            continue
        except RegisterError as exc:
            LOGGER.warning("续约失败 lease renewal failed: %s", exc)
            failed = True
            continue
        renewed_at, failed = sent, False
        if planner is None:
            continue
        try:
            todo = await planner()
        except RegisterError as exc:
            LOGGER.warning("分区规划失败 partition planning failed: %s", exc)
            continue
        if todo.give or todo.take:
            return todo


async def _active_partitioned(
    config: Config,
    warm: Warm,
    leases: Leases,
    role: ClusterRole,
    held: dict[int, int],
    acquired_at: float,
    hub: ActiveHub,
) -> tuple[dict[int, int], float]:
    """One active term over `held`; returns the partitions (and epochs) of the next term ({}: standby) and
    the loop time from before their leases were last renewed or taken."""
    loop = asyncio.get_running_loop()
    cfg = config.cluster
    scope = PartitionScope(cfg.partitions, sorted(held), warm.sessions)
    keeper = asyncio.create_task(
        keep_leases(leases, held, cfg, acquired_at, lambda: _plan(config, leases)), name="leases"
    )
    running = asyncio.create_task(hub.run(role, scope), name="active hub")

    async def release(partitions: Mapping[int, int]) -> None:
        for p, epoch in partitions.items():
            with contextlib.suppress(RegisterError):
                await asyncio.to_thread(leases.release, p, epoch)

    try:
        await asyncio.wait({running, keeper}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # A clean stop: the last batch becomes durable while the leases are still renewed, then given up.
        await cancel_and_wait(running)
        await cancel_and_wait(keeper)
        await release(held)
        raise
    if running.done():
        await cancel_and_wait(keeper)
        failure = None if running.cancelled() else running.exception()
        if failure is not None and isinstance(failure.__cause__, LeaseLost):
            LOGGER.critical("%s", failure.__cause__)
            hub.stops.clear()
            await release(held)
            return {}, 0.0
        await release(held)
        running.result()  # the hub stopped itself: its HubStopped ends the process (fail closed)
        return {}, 0.0
    outcome = keeper.result()
    if isinstance(outcome, _Fenced):
        LOGGER.critical("实例 %s 无法续约，在租约到期前停止主用工作 (self-fencing)", role.instance)
        running.cancel()
        done, _ = await asyncio.wait({running}, timeout=max(0.0, outcome.stop_by - loop.time()))
        if not done:
            LOGGER.critical("主用工作未能在租约到期前停止，进程立即退出 (exit %d)", EXIT_FENCED)
            logging.shutdown()
            os._exit(EXIT_FENCED)
        return {}, 0.0
    # A change of the owned set: stop this term cleanly (its last batch durable, every session's
    # acknowledgements sent) while the leases are still renewed, then give up and take.
    LOGGER.warning(
        "实例 %s 调整分区：交出 %s，接管 %s", role.instance, list(outcome.give), list(outcome.take)
    )
    renewing = asyncio.create_task(keep_leases(leases, held, cfg, loop.time(), None), name="leases")
    try:
        await cancel_and_wait(running)
    except asyncio.CancelledError:
        # A stop during the handover: the term's work has stopped; give every lease up, as a clean stop
        # does, so that the other instances take the partitions at once instead of after lease_s.
        await cancel_and_wait(renewing)
        await release(held)
        raise
    finally:
        await cancel_and_wait(renewing)
    if not running.cancelled() and running.exception() is not None:
        LOGGER.error("停止主用工作时出错 while stopping the active work: %s", running.exception())
    await release({p: held[p] for p in outcome.give})
    # Renewed (or taken) now, so that the next term's deadline counts from a statement sent after this.
    sent = loop.time()
    kept: dict[int, int] = {}
    try:
        for p, epoch in held.items():
            if p not in outcome.give and await asyncio.to_thread(leases.renew, p, epoch):
                kept[p] = epoch
        kept |= await _take(leases, outcome.take)
    except RegisterError as exc:
        LOGGER.warning("续约或接管分区失败 could not renew or take partitions: %s", exc)
        await release(kept)
        return {}, 0.0
    return kept, sent


def fence_check(role: ClusterRole) -> Callable[[Session], None] | None:
    """The fencing-token check for the active work's transactions (None on SQLite: nobody to fence off)."""
    epochs = dict(role.epochs)
    if not role.clustered or not epochs:
        return None
    instance = role.instance

    def check(session: Session) -> None:
        for partition, epoch in epochs.items():
            check_held(session, partition, instance, epoch)

    return check
