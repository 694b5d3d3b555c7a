"""Wiring: builds every part from the config and runs them until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from hub import native
from hub.alerts.service import AlertService
from hub.bootstrap import open_register
from hub.care.loop import run_care_loop
from hub.clock import Clock, SystemClock
from hub.cluster import ClusterRole, partition_of
from hub.config import Config
from hub.devices.canary import canary_binding, canary_topic, registry_with_canary
from hub.devices.device_time import DeviceTimePolicy
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.failure import HubStopped, why_stopped
from hub.health import CheckResult, Health, age_check, failing, ok, ping_register, silence_limit
from hub.ingest.gate import RoutineGate
from hub.ingest.pipeline import Pipeline
from hub.ingest.register_writer import RegisterWriter
from hub.ingest.urgent import (
    DeviceKey,
    SessionFilters,
    Twins,
    consume_urgent,
    overlap_of,
    split_filters,
    urgent_client_id,
    yielding,
)
from hub.models import AlertCandidate, RawMessage, Severity
from hub.register.bindings import BINDING_REFRESH_S, load_bindings
from hub.rules.immediate import ImmediateRules
from hub.rules.service import RulesService
from hub.runtime import cancel_and_wait
from hub.selfcheck import Canary, watch
from hub.sources.delivery import Delivery
from hub.sources.embedded_broker import EmbeddedBroker
from hub.sources.mqtt import MqttSource
from hub.sources.serial_cjt188 import Cjt188Poller
from hub.sources.watch_tcp import WatchSource
from hub.standby import PARTITION, ActiveHub, PartitionScope, fence_check, partition_client_id, run_cluster
from hub.store import InfluxStore, SqliteStore
from hub.store.base import TimeSeriesStore
from hub.web.alerts_api import ALERTS, AlertsWeb
from hub.web.api import build_app
from hub.web.care_api import CARE
from hub.web.server import listen
from hub.web.services import Services

LOGGER = logging.getLogger(__name__)


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
    lease (`hub.standby.run_cluster`); on SQLite it is the only process and always active.
    """
    native.check()  # a compiled module older than its source would run old code
    LOGGER.info(native.describe())
    stops: list[HubStopped] = []
    hub = _HubArgs(clock or SystemClock(), started, on_batch_durable, stops)
    try:
        warm = await asyncio.to_thread(_warm_up, config)
        if make_url(config.register_url).get_backend_name() == "postgresql":

            def active(role: ClusterRole, scope: PartitionScope | None) -> Coroutine[Any, Any, None]:
                return _run_hub(config, warm, role, hub, scope)

            await run_cluster(config, warm, ActiveHub(active, stops))
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
        # Routine ingest steps aside while an urgent alert is on its way out (hub.ingest.gate).
        gate = RoutineGate()
        alerts = await stack.enter_async_context(
            AlertService(
                config.alerts,
                sessions,
                clock,
                config.timezone,
                fence=fence_check(role),
                scope=None if scope is None else scope.home_scope,
                on_round=gate.round_done,
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
            gate=gate,
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

        # The urgent devices' own sessions (hub.ingest.urgent): an SOS does not queue behind the routine
        # backlog in the broker. Routine session i and urgent session i cover the same homes.
        owned = [PARTITION] if scope is None else scope.owned
        urgent_on = config.mqtt.urgent_session
        split = _session_filters(bindings.get(), registry, scope, owned, urgent_on)
        if scope is None:
            # The ecosystem wildcards: an unregistered device is still received (and quarantined); they
            # cover the urgent devices too, whose second copies `Twins` pairs with the first.
            sources = [
                mqtt_source(
                    [*(config.mqtt.subscriptions or registry.subscriptions()), canary.topic],
                    config.mqtt.client_id,
                )
            ]
            client_ids = [config.mqtt.client_id]
        else:
            # One broker session per owned partition, subscribed to its devices' topics only: the broker
            # routes each message to its home's partition and keeps it queued while the partition moves.
            sources = [
                mqtt_source(
                    [*split[p].routine, *([canary.topic] if i == 0 else [])],
                    partition_client_id(config, p),
                )
                for i, p in enumerate(owned)
            ]
            client_ids = [partition_client_id(config, p) for p in owned]
        urgent_sources = (
            [
                mqtt_source(split[p].urgent, urgent_client_id(client_id))
                for p, client_id in zip(owned, client_ids, strict=True)
            ]
            if urgent_on
            else []
        )
        # Which devices each kind of session was ever subscribed to (None: the routine one has wildcards).
        urgent_ever: set[DeviceKey] = set()
        routine_ever: set[DeviceKey] | None = None if scope is None else set()
        for f in split.values():
            urgent_ever |= f.urgent_devices
            if routine_ever is not None:
                routine_ever |= f.routine_devices
        twins = Twins(registry, overlap_of(urgent_ever, routine_ever))
        source = sources[0]  # the one the self-check publishes and listens on
        every_source = [*sources, *urgent_sources]
        health = _health(
            config, clock, sessions, store, pipeline, every_source, rules, alerts, bindings, canary
        )
        services = Services(
            sessions,
            store,
            pipeline,
            clock,
            lambda: all(s.connected.is_set() for s in every_source),
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
            stack.push_async_callback(
                cancel_and_wait, asyncio.create_task(pipeline.consume(_unacknowledged(poller)))
            )

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
            stack.push_async_callback(cancel_and_wait, asyncio.create_task(pipeline.consume(watch_source)))

        async def mqtt(src: MqttSource) -> None:
            # Connecting runs beside the rest: while the broker is down the alert worker still sends (SMS
            # and robots need no MQTT), HTTP ingest still stores and /healthz says why the hub is deaf.
            # The source is entered on the stack, so it disconnects only after the last flush has acked.
            await stack.enter_async_context(src)
            if urgent_on:  # the urgent session's consumer must get turns while a backlog is decoded
                await pipeline.consume(yielding(twins.routine(src), gate))
            else:
                await pipeline.consume(src)

        async def mqtt_urgent(src: MqttSource) -> None:
            await stack.enter_async_context(src)
            await consume_urgent(pipeline, twins.urgent(src))

        def on_reload() -> None:
            config_alerts.check()
            if scope is None and not urgent_on:
                return
            # A device bound since: subscribe it on its (partition's) urgent or routine session.
            nonlocal routine_ever
            now = _session_filters(bindings.get(), registry, scope, owned, urgent_on)
            for i, p in enumerate(owned):
                if urgent_on:
                    urgent_sources[i].subscribe(now[p].urgent)
                    urgent_ever.update(now[p].urgent_devices)
                if routine_ever is not None:
                    sources[i].subscribe(now[p].routine)
                    routine_ever |= now[p].routine_devices
            twins.overlap = overlap_of(urgent_ever, routine_ever)

        tasks = [
            asyncio.create_task(pipeline.run(), name="pipeline"),
            *(asyncio.create_task(mqtt(s), name=f"mqtt-{i}") for i, s in enumerate(sources)),
            *(
                asyncio.create_task(mqtt_urgent(s), name=f"mqtt-urgent-{i}")
                for i, s in enumerate(urgent_sources)
            ),
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
            tasks.append(asyncio.create_task(_announce(started, running, every_source), name="started"))
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
                await cancel_and_wait(task)
            # Whatever was accepted gets one last chance to become durable before the store closes.
            if pipeline.failed is None:
                try:
                    await pipeline.flush()
                except Exception:  # nothing of that batch is acknowledged: the broker redelivers it
                    LOGGER.exception("停止前的最后一次写入失败 last flush before stopping failed")


def _session_filters(
    bindings: Mapping[tuple[str, str], Binding],
    registry: DeviceRegistry,
    scope: PartitionScope | None,
    owned: list[int],
    urgent_session: bool,
) -> dict[int, SessionFilters]:
    """Owned partition (`PARTITION` when not partitioned) → its devices' urgent and routine filters."""
    by_partition: dict[int, list[Binding]] = {p: [] for p in owned}
    for binding in bindings.values():
        p = PARTITION if scope is None else partition_of(binding.home, scope.count)
        if p in by_partition:
            by_partition[p].append(binding)
    return {p: split_filters(b, registry, urgent_session=urgent_session) for p, b in by_partition.items()}


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
            refused = sorted({topic for s in sources for topic in s.refused})
            if refused:  # connected, but nothing published on these arrives
                listed = ", ".join(refused)
                return failing(
                    "mqtt",
                    f"broker 拒绝了订阅（正在重试）: {listed}",
                    f"the broker refused the subscriptions (retrying): {listed}",
                )
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
