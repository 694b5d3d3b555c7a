"""Wiring: builds every part from the config and runs them until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.service import AlertService
from hub.bootstrap import open_register
from hub.care.loop import run_care_loop
from hub.clock import Clock, SystemClock
from hub.cluster import ClusterRole, HomeScope, PartitionLease, Plan, partition_of, plan
from hub.config import ClusterConfig, Config
from hub.devices.canary import canary_binding, canary_topic, registry_with_canary
from hub.devices.device_time import DeviceTimePolicy
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.failure import HubStopped, why_stopped
from hub.health import CheckResult, Health, age_check, failing, ok, ping_register, silence_limit
from hub.ingest.pipeline import Pipeline
from hub.ingest.register_writer import RegisterWriter
from hub.models import AlertCandidate, RawMessage, Severity
from hub.register.bindings import load_bindings
from hub.register.db import make_engine
from hub.register.errors import RegisterError
from hub.register.lease import LeaseLost, Leases, check_held, home_codes
from hub.rules.immediate import ImmediateRules
from hub.rules.service import RulesService
from hub.selfcheck import Canary, watch
from hub.sources.delivery import Delivery
from hub.sources.embedded_broker import EmbeddedBroker
from hub.sources.mqtt import MqttSource
from hub.sources.serial_cjt188 import Cjt188Poller
from hub.sources.watch_tcp import WatchSource
from hub.store import InfluxStore, SqliteStore
from hub.store.base import TimeSeriesStore
from hub.web.alerts_api import ALERTS, AlertsWeb
from hub.web.api import build_app, build_standby_app
from hub.web.care_api import CARE
from hub.web.server import listen
from hub.web.services import Services

LOGGER = logging.getLogger(__name__)

# Devices are added by `eldercare-hub load` in another process; a new one is bound within this time.
BINDING_REFRESH_S = 15.0


class BindingCache:
    """The register's device bindings, kept in memory and reloaded periodically (site loads, onboarding).

    With a `registry`, each reload also checks every binding against its model (`misconfigured`): the site
    loader refuses such devices, but a register written by hand, by an older hub or by a model whose needs
    changed can still hold one, and every message of it would be quarantined.
    `extra` is a binding the register never holds (the hub's own canary): the pipeline decodes it, the rules
    never see it.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: DeviceRegistry | None = None,
        extra: Binding | None = None,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._extra = extra
        self._bindings: Mapping[tuple[str, str], Binding] = {}
        self._with_extra: Mapping[tuple[str, str], Binding] = {}
        self.misconfigured: dict[str, tuple[Binding, list[str]]] = {}  # device code → (binding, problems)

    def get(self) -> Mapping[tuple[str, str], Binding]:
        """The register's bindings (no I/O): what the rules engine watches."""
        return self._bindings

    def for_pipeline(self) -> Mapping[tuple[str, str], Binding]:
        """The register's bindings plus the hub's own canary (no I/O): what the pipeline decodes."""
        return self._with_extra

    def reload(self) -> None:
        """Read the bindings from the register (blocking; call in a thread)."""
        with self._sessions() as session:
            bindings = load_bindings(session)
        extra = {} if self._extra is None else {(self._extra.ecosystem, self._extra.external_id): self._extra}
        self._bindings, self._with_extra = bindings, {**bindings, **extra}
        if self._registry is not None:
            checked = ((b, self._registry.binding_problems(b)) for b in bindings.values())
            self.misconfigured = {b.device: (b, problems) for b, problems in checked if problems}

    def report_intervals(self) -> list[float]:
        """The report intervals the register declares for bound devices (settings.report_interval_s)."""
        out = []
        for binding in self._bindings.values():
            with contextlib.suppress(TypeError, ValueError):
                out.append(float(binding.settings.get("report_interval_s") or 0))
        return out

    async def refresh_forever(
        self, every: float = BINDING_REFRESH_S, on_reload: Callable[[], None] | None = None
    ) -> None:
        """Reload every `every` seconds (then call `on_reload`)."""
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(self.reload)
            if on_reload is not None:
                on_reload()


class ConfigAlerts:
    """Tells people about registered devices whose model or settings make them undecodable.

    One device-class alert per device (kind ``device_config``) when the problem is first seen, at start-up
    or after a reload, and again only when the problem changes; the log says it too.
    """

    kinds = frozenset({"device_config"})  # the alert kinds it raises (named in hub/rules/kinds.py)

    def __init__(
        self, bindings: BindingCache, raise_candidates: Callable[[list[AlertCandidate]], None], clock: Clock
    ):
        self._bindings = bindings
        self._raise = raise_candidates
        self._clock = clock
        self._told: dict[str, list[str]] = {}

    def check(self) -> None:
        """Raise an alert for each newly misconfigured device."""
        candidates = []
        for code, (binding, problems) in self._bindings.misconfigured.items():
            if self._told.get(code) == problems:
                continue
            self._told[code] = problems
            LOGGER.error("设备 %s 配置有误，其消息都将被隔离: %s", code, "; ".join(problems))
            candidates.append(
                AlertCandidate(
                    home=binding.home,
                    kind="device_config",
                    severity=Severity.WARNING,
                    at=self._clock.now(),
                    device=code,
                    explanation=(
                        f"设备 {code} 的型号或设置有误，它的消息都无法解析（已隔离）："
                        f"{'；'.join(problems)}。请改正站点文件后重新 eldercare-hub load"
                    ),
                    alert_class="device",
                    subject=code,
                )
            )
        self._raise(candidates)


def build_store(config: Config) -> TimeSeriesStore:
    """The configured time-series store."""
    if config.store.kind == "influxdb":
        return InfluxStore(
            config.store.url,
            config.store.database,
            username=config.store.username or None,
            password=config.store.password or None,
            spool_dir=config.data_dir / "spool",
            retention_policy=config.store.retention_policy or None,
            batch_max=config.store.batch_max,
        )
    # FULL: the ack-after-durable rule should survive a power cut too; it measured as fast as NORMAL here.
    return SqliteStore(
        config.data_dir / "timeseries.sqlite", batch_max=config.store.batch_max, synchronous="FULL"
    )


@dataclass
class RunningHub:
    """Handles of a started hub (tests and the demo look at these)."""

    pipeline: Pipeline
    broker_url: str  # the first of the configured brokers (the demo's embedded one)
    http_url: str
    sessions: sessionmaker[Session]
    store: TimeSeriesStore
    alerts: AlertService
    rules: RulesService | None = None  # None when `rules.enabled` is false
    health: Health | None = None


@dataclass
class _Warm:
    """What a hub keeps ready before it may be active: the register open and migrated, the device models,
    the bindings loaded (a standby keeps them fresh), so that taking over needs only what the lease allows."""

    sessions: sessionmaker[Session]
    registry: DeviceRegistry
    bindings: BindingCache
    stale: bool = False  # the last reload failed: reload before taking over


def _warm_up(config: Config) -> _Warm:
    """Open the register and load the bindings (blocking; call in a thread)."""
    sessions = open_register(config)
    registry = registry_with_canary(
        DeviceTimePolicy(config.pipeline.device_clock_future_s, config.pipeline.device_clock_max_lag_s)
    )
    bindings = BindingCache(sessions, registry, extra=canary_binding(config.mqtt.client_id))
    bindings.reload()
    return _Warm(sessions, registry, bindings)


async def run_hub(
    config: Config,
    *,
    clock: Clock | None = None,
    started: asyncio.Future[RunningHub] | None = None,
    on_batch_durable: Callable[[list[Delivery]], None] | None = None,
) -> None:
    """Run the hub until cancelled; a failed part stops it with `HubStopped` (one plain line).

    On a PostgreSQL register the hub is one instance of a cluster: it is active only while it holds the
    lease (`_run_cluster`); on SQLite it is the only process and always active.
    """
    stops: list[HubStopped] = []
    hub = _HubArgs(clock or SystemClock(), started, on_batch_durable, stops)
    try:
        warm = await asyncio.to_thread(_warm_up, config)
        if make_url(config.register_url).get_backend_name() == "postgresql":
            await _run_cluster(config, warm, hub)
        else:
            role = ClusterRole(config.cluster.instance_name, clustered=False)
            role.set_active(None, [PARTITION])
            LOGGER.info("SQLite 登记库：单进程运行，始终为主用 (always active; a standby needs PostgreSQL)")
            await _run_hub(config, warm, role, hub)
    except Exception as exc:
        # A part that fails while the hub shuts down (a snapshot on the same full disk) must not hide why
        # the hub stopped: the reason stays the one the duty officer reads.
        if not stops or exc is stops[0]:
            raise
        LOGGER.error("停止过程中另有故障 a further failure while stopping: %s", exc)
        raise stops[0] from None


@dataclass(frozen=True)
class _HubArgs:
    """What `run_hub`'s caller hands to each active term of the hub."""

    clock: Clock
    started: asyncio.Future[RunningHub] | None
    on_batch_durable: Callable[[list[Delivery]], None] | None
    stops: list[HubStopped]


# -- hot standby ------------------------------------------------------------------------------------------

# The one partition until partitioned instances are built: one lease for every home.
PARTITION = 0
# Exit status of an active that could not stop its work before its lease ran out: the process ends at once
# (nothing is lost: what was not durable was not acknowledged) and its supervisor starts it again as a standby.
EXIT_FENCED = 75


async def _run_cluster(config: Config, warm: _Warm, hub: _HubArgs) -> None:
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
            await _active(config, warm, leases, role, epoch, acquired_at, hub)
            role.set_standby()
            LOGGER.warning("实例 %s 转为备用 (standby)", role.instance)
    finally:
        await asyncio.to_thread(engine.dispose)


async def _standby(config: Config, warm: _Warm, leases: Leases, role: ClusterRole) -> tuple[int, float]:
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
            await _cancel(refresh)
    finally:
        await runner.cleanup()


async def _refresh_while_standby(warm: _Warm) -> None:
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
    warm: _Warm,
    leases: Leases,
    role: ClusterRole,
    epoch: int,
    acquired_at: float,
    hub: _HubArgs,
) -> None:
    """Run the hub while the lease is renewed; when it cannot be, stop the hub before the lease runs out."""
    loop = asyncio.get_running_loop()
    keeper = asyncio.create_task(keep_lease(leases, epoch, config.cluster, acquired_at), name="lease")
    running = asyncio.create_task(_run_hub(config, warm, role, hub), name="active hub")
    try:
        await asyncio.wait({running, keeper}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # A clean stop: the last batch becomes durable while the lease is still renewed, then the lease
        # is given up so that the standby takes over at once instead of after lease_s.
        await _cancel(running)
        await _cancel(keeper)
        with contextlib.suppress(RegisterError):
            await asyncio.to_thread(leases.release, PARTITION, epoch)
        raise
    if running.done():
        await _cancel(keeper)
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
    loop = asyncio.get_running_loop()
    failed = False
    while True:
        fence_at = renewed_at + cfg.lease_s * 2 / 3
        next_try = loop.time() + cfg.renew_s / 4 if failed else renewed_at + cfg.renew_s
        await asyncio.sleep(max(0.0, min(next_try, fence_at) - loop.time()))
        if loop.time() >= fence_at:
            return renewed_at + cfg.lease_s * 0.9
        sent = loop.time()
        try:
            async with asyncio.timeout_at(fence_at):
                held = await asyncio.to_thread(leases.renew, PARTITION, epoch)
        except TimeoutError:
            failed = True
            continue
        except RegisterError as exc:
            LOGGER.warning("续约失败 lease renewal failed: %s", exc)
            failed = True
            continue
        if not held:
            LOGGER.critical("租约已不属于本实例 the lease was lost (epoch %d)", epoch)
            return loop.time()  # another instance may be active already: stop now
        renewed_at, failed = sent, False


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

    def filters(
        self, bindings: Mapping[tuple[str, str], Binding], registry: DeviceRegistry
    ) -> dict[int, list[str]]:
        """Owned partition → the MQTT filters of its devices."""
        out: dict[int, list[str]] = {p: [] for p in self.owned}
        for binding in bindings.values():
            p = partition_of(binding.home, self.count)
            if p in out:
                out[p] += registry.device_filters(binding)
        return out


@dataclass(frozen=True)
class _Fenced:
    """The leases could not be renewed: the active work must stop by `stop_by` (loop time)."""

    stop_by: float


async def _run_partitioned(
    config: Config, warm: _Warm, leases: Leases, role: ClusterRole, hub: _HubArgs
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
    config: Config, warm: _Warm, leases: Leases, role: ClusterRole
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
            await _cancel(refresh)
    finally:
        await runner.cleanup()


async def keep_leases(
    leases: Leases,
    held: Mapping[int, int],
    cfg: ClusterConfig,
    renewed_at: float,
    planner: Callable[[], Awaitable[Plan]] | None,
) -> Plan | _Fenced:
    """Renew every held lease every `renew_s` and (with `planner`) plan: a `Plan` with something to do, or
    `_Fenced` once a lease is lost or could not be renewed for two thirds of `lease_s` (as `keep_lease`)."""
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
                        LOGGER.critical("分区 %d 的租约已不属于本实例 (epoch %d)", p, epoch)
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
    warm: _Warm,
    leases: Leases,
    role: ClusterRole,
    held: dict[int, int],
    acquired_at: float,
    hub: _HubArgs,
) -> tuple[dict[int, int], float]:
    """One active term over `held`; returns the partitions (and epochs) of the next term ({}: standby) and
    the loop time from before their leases were last renewed or taken."""
    loop = asyncio.get_running_loop()
    cfg = config.cluster
    scope = PartitionScope(cfg.partitions, sorted(held), warm.sessions)
    keeper = asyncio.create_task(
        keep_leases(leases, held, cfg, acquired_at, lambda: _plan(config, leases)), name="leases"
    )
    running = asyncio.create_task(_run_hub(config, warm, role, hub, scope), name="active hub")

    async def release(partitions: Mapping[int, int]) -> None:
        for p, epoch in partitions.items():
            with contextlib.suppress(RegisterError):
                await asyncio.to_thread(leases.release, p, epoch)

    try:
        await asyncio.wait({running, keeper}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # A clean stop: the last batch becomes durable while the leases are still renewed, then given up.
        await _cancel(running)
        await _cancel(keeper)
        await release(held)
        raise
    if running.done():
        await _cancel(keeper)
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
        await _cancel(running)
    finally:
        await _cancel(renewing)
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


def _fence(role: ClusterRole) -> Callable[[Session], None] | None:
    """The fencing-token check for the active work's transactions (None on SQLite: nobody to fence off)."""
    epochs = dict(role.epochs)
    if not role.clustered or not epochs:
        return None
    instance = role.instance

    def check(session: Session) -> None:
        for partition, epoch in epochs.items():
            check_held(session, partition, instance, epoch)

    return check


async def _run_hub(
    config: Config, warm: _Warm, role: ClusterRole, hub: _HubArgs, scope: PartitionScope | None = None
) -> None:
    """One active term of the hub: every part, until cancelled or a part fails.

    `scope`: the partitions this instance owns in this term (partitioned instances); None: every home.
    """
    clock, started, on_batch_durable, stops = hub.clock, hub.started, hub.on_batch_durable, hub.stops
    sessions, registry, bindings = warm.sessions, warm.registry, warm.bindings
    if warm.stale:  # a standby that could not reload them lately
        await asyncio.to_thread(bindings.reload)
        warm.stale = False
    if scope is not None:
        await asyncio.to_thread(scope.refresh)
    # Work of no particular home (care planning, device-config alerts, serial meters, watches) is done by
    # the owner of partition 0 only.
    system = scope is None or scope.system
    canary = Canary(canary_topic(config.mqtt.client_id), config.health, clock)
    async with AsyncExitStack() as stack:
        broker_urls = config.mqtt.broker_urls
        embedded = not broker_urls
        if embedded:
            broker = await stack.enter_async_context(EmbeddedBroker(port=config.mqtt.embedded_port))
            broker_urls = [broker.url]
        store = await stack.enter_async_context(build_store(config))
        alerts = await stack.enter_async_context(
            AlertService(
                config.alerts,
                sessions,
                clock,
                config.timezone,
                fence=_fence(role),
                scope=None if scope is None else scope.home_scope,
            )
        )
        # The rules engine: restored from its snapshot plus the time series before any message is taken.
        rules: RulesService | None = None
        if config.rules.enabled:
            rules = await stack.enter_async_context(
                RulesService(
                    config.rules,
                    config.timezone,
                    sessions=sessions,
                    store=store,
                    bindings=bindings.get if scope is None else scope.bindings(bindings.get),
                    clock=clock,
                    registry=registry,
                    owns=None if scope is None else scope.owns,
                )
            )
        pipeline = Pipeline(
            registry=registry,
            rules=canary.rules(ImmediateRules(config.timezone) if rules is None else rules.engine),
            bindings=bindings.for_pipeline,
            store=store,
            # Each new alert's escalation row is written in the alert's own transaction; the worker begins it.
            register=RegisterWriter(sessions, on_alert_changes=alerts.escalator.on_alert_changes),
            clock=clock,
            timezone=config.timezone,
            batch_max=config.pipeline.batch_max,
            flush_interval=config.pipeline.flush_interval_s,
            max_pending=config.pipeline.max_pending,
            on_batch_durable=_both(canary.on_batch_durable, on_batch_durable),
            on_alerts_committed=alerts.committed,
        )
        await pipeline.restore()
        config_alerts = ConfigAlerts(bindings, pipeline.raise_candidates if system else _discard, clock)
        config_alerts.check()
        if rules is not None:
            rules.start(pipeline.raise_candidates)

        def mqtt_source(subscriptions: list[str], client_id: str) -> MqttSource:
            return MqttSource(
                broker_urls,
                subscriptions,
                client_id=client_id,
                username=config.mqtt.username,
                password=config.mqtt.password,
                session_expiry_s=config.mqtt.session_expiry_s,
                keepalive_s=config.mqtt.keepalive_s,
                reconnect_max_s=config.mqtt.reconnect_max_s,
                # amqtt speaks MQTT 3.1.1 only, and so does NATS; acknowledgements are held the same way.
                mqtt5=not embedded and config.mqtt.protocol == "5",
                receive_maximum=config.mqtt.receive_maximum,
                clock=clock,
            )

        if scope is None:
            sources = [
                mqtt_source(
                    [*(config.mqtt.subscriptions or registry.subscriptions()), canary.topic],
                    config.mqtt.client_id,
                )
            ]
        else:
            # One broker session per owned partition, subscribed to its devices' topics only: the broker
            # routes each message to its home's partition and keeps it queued while the partition moves.
            filters = scope.filters(bindings.get(), registry)
            sources = [
                mqtt_source(
                    [*filters[p], *([canary.topic] if i == 0 else [])], partition_client_id(config, p)
                )
                for i, p in enumerate(scope.owned)
            ]
        source = sources[0]  # the one the self-check publishes and listens on
        health = _health(config, clock, sessions, store, pipeline, sources, rules, alerts, bindings, canary)
        services = Services(
            sessions,
            store,
            pipeline,
            clock,
            lambda: all(s.connected.is_set() for s in sources),
            web=config.web,
            host=config.http.host,
            health=health,
            cluster=role,
            partitions=config.cluster.partitions,
        )
        app = build_app(services)
        app[ALERTS] = AlertsWeb(alerts)
        app[CARE] = (config.care, config.timezone)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        port = await listen(runner, config.http.host, config.http.port)
        http_url = f"http://{config.http.host}:{port}"
        LOGGER.info("HTTP 服务: %s", http_url)
        for serial_cfg in config.serial if system else []:
            poller = Cjt188Poller(
                serial_cfg.url,
                serial_cfg.addresses,
                interval=serial_cfg.interval_s,
                baudrate=serial_cfg.baudrate,
                clock=clock,
            )
            await stack.enter_async_context(poller)
            # A serial reply needs no acknowledgement: the meter is polled again next interval anyway.
            stack.push_async_callback(_cancel, asyncio.create_task(pipeline.consume(_unacknowledged(poller))))

        if config.watch.enabled and system:
            watch_cfg = config.watch
            watch_source = WatchSource(
                watch_cfg.host,
                watch_cfg.port,
                idle_timeout_s=watch_cfg.idle_timeout_s,
                max_frame=watch_cfg.max_frame_bytes,
                reply_to_locations=watch_cfg.reply_to_locations,
                clock=clock,
            )
            # Entered on the stack: it closes after the last flush, so that flush's replies still go out.
            await stack.enter_async_context(watch_source)
            stack.push_async_callback(_cancel, asyncio.create_task(pipeline.consume(watch_source)))

        async def mqtt(src: MqttSource) -> None:
            # Connecting runs beside the rest: while the broker is down the alert worker still sends (SMS
            # and robots need no MQTT), HTTP ingest still stores and /healthz says why the hub is deaf.
            # The source is entered on the stack, so it disconnects only after the last flush has acked.
            await stack.enter_async_context(src)
            await pipeline.consume(src)

        def on_reload() -> None:
            config_alerts.check()
            if scope is not None:  # a device bound since: subscribe it on its partition's session
                filters = scope.filters(bindings.get(), registry)
                for p, partition_source in zip(scope.owned, sources, strict=True):
                    partition_source.subscribe(filters[p])

        tasks = [
            asyncio.create_task(pipeline.run(), name="pipeline"),
            *(asyncio.create_task(mqtt(s), name=f"mqtt-{i}") for i, s in enumerate(sources)),
            asyncio.create_task(bindings.refresh_forever(on_reload=on_reload), name="bindings"),
            asyncio.create_task(alerts.worker.run(), name="alerts"),
            asyncio.create_task(watch(health, alerts), name="health"),
        ]
        if system:
            tasks.append(
                asyncio.create_task(run_care_loop(sessions, config.care, config.timezone, clock), name="care")
            )
        if scope is not None:
            tasks.append(asyncio.create_task(scope.refresh_forever(), name="partition homes"))
        if config.health.canary_enabled:
            tasks.append(asyncio.create_task(canary.run(source.publish), name="canary"))
        running = RunningHub(pipeline, broker_urls[0], http_url, sessions, store, alerts, rules, health)
        if started is not None:
            # Announced once the broker session is up (callers publish at once), or never while it is down.
            tasks.append(asyncio.create_task(_announce(started, running, sources), name="started"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                failure = None if task.cancelled() else task.exception()
                if isinstance(failure, Exception):
                    LOGGER.critical("%s 停止了平台 stopped the hub", task.get_name(), exc_info=failure)
                    stops.append(HubStopped(why_stopped(failure, config.data_dir)))
                    raise stops[0] from failure
        finally:
            for task in tasks:
                await _cancel(task)
            # Whatever was accepted gets one last chance to become durable before the store closes.
            if pipeline.failed is None:
                try:
                    await pipeline.flush()
                except Exception:  # nothing of that batch is acknowledged: the broker redelivers it
                    LOGGER.exception("停止前的最后一次写入失败 last flush before stopping failed")


async def _announce(
    started: asyncio.Future[RunningHub], running: RunningHub, sources: list[MqttSource]
) -> None:
    for source in sources:
        await source.connected.wait()
    if not started.done():
        started.set_result(running)


def _both(
    first: Callable[[list[Delivery]], None], second: Callable[[list[Delivery]], None] | None
) -> Callable[[list[Delivery]], None]:
    if second is None:
        return first

    def call(deliveries: list[Delivery]) -> None:
        first(deliveries)
        second(deliveries)

    return call


def _health(
    config: Config,
    clock: Clock,
    sessions: sessionmaker[Session],
    store: TimeSeriesStore,
    pipeline: Pipeline,
    sources: list[MqttSource],
    rules: RulesService | None,
    alerts: AlertService,
    bindings: BindingCache,
    canary: Canary,
) -> Health:
    """The hub's health checks over the heartbeats of its parts (hub/health.py lists them)."""
    cfg = config.health
    health = Health(cfg, clock)

    def pipeline_check(now: datetime) -> CheckResult:
        failed = pipeline.failed
        if failed is None:
            return ok("pipeline")
        return failing("pipeline", f"数据管道已停止: {failed}", f"the ingest pipeline stopped: {failed}")

    def mqtt_check(now: datetime) -> CheckResult:
        down = [s for s in sources if not s.connected.is_set()]
        if not down:
            return ok("mqtt")
        zh, en = down[0].failure or ("正在连接 broker", "connecting to the broker")
        return failing("mqtt", f"MQTT 未连接: {zh}", f"MQTT is not connected: {en}")

    def store_check(now: datetime) -> CheckResult:
        pending = store.pending()
        if pending <= cfg.store_pending_max:
            return ok("store")
        return failing(
            "store",
            f"时序库积压 {pending} 条读数未写入（上限 {cfg.store_pending_max}），正暂存于本地",
            f"{pending} readings are spooled, not yet in the time-series store (limit {cfg.store_pending_max})",
        )

    def register_ping() -> None:
        with sessions() as session:
            session.execute(text("SELECT 1"))

    async def register_check(now: datetime) -> CheckResult:
        return await ping_register(register_ping, cfg.register_timeout_s)

    def alerts_check(now: datetime) -> CheckResult:
        return age_check(
            "alerts",
            alerts.worker.last_loop_at,
            health.started_at,
            now,
            cfg.alert_worker_late_s,
            "告警发送进程迟滞",
            "the alert worker is late",
        )

    def delivery_check(now: datetime) -> CheckResult:
        undelivered = alerts.worker.last_undelivered
        delivered = alerts.worker.last_delivered_at
        if undelivered is None or (delivered is not None and delivered > undelivered[0]):
            return ok("delivery")
        at, detail = undelivered
        return failing(
            "delivery",
            f"通知无法送达（{at.isoformat(timespec='seconds')}）：{detail}",
            f"notifications are not getting through (all channels failed at {at.isoformat(timespec='seconds')})",
        )

    def messages_check(now: datetime) -> CheckResult:
        if not bindings.get():
            return ok("messages")  # nothing bound, nothing to hear yet
        return age_check(
            "messages",
            pipeline.last_message_at,
            health.started_at,
            now,
            silence_limit(cfg, bindings.report_intervals()),
            "长时间未收到任何设备消息",
            "no device message for too long",
        )

    health.add("pipeline", pipeline_check)
    health.add("mqtt", mqtt_check)
    health.add("store", store_check)
    health.add("register", register_check)
    if rules is not None:
        sweep_limit = 3 * rules.config.sweep_interval_s + 5

        def rules_check(now: datetime) -> CheckResult:
            return age_check(
                "rules",
                rules.last_sweep_at,
                health.started_at,
                now,
                sweep_limit,
                "规则定时扫描迟滞（不活动等超时告警可能不会触发）",
                "the rules sweep is late (inactivity timers may not fire)",
            )

        health.add("rules", rules_check)
    health.add("alerts", alerts_check)
    health.add("delivery", delivery_check)
    health.add("messages", messages_check)
    if cfg.canary_enabled:
        health.add("canary", canary.check)
    return health


def _discard(candidates: list[AlertCandidate]) -> None:
    """Where another instance's work goes (device-config alerts are raised by partition 0's owner)."""


async def _unacknowledged(messages: AsyncIterable[RawMessage]) -> AsyncIterator[Delivery]:
    async for message in messages:
        yield Delivery(message)


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
