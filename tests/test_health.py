"""The hub never says "ok" while it is deaf: /healthz, the health gauges, the canary and the duty SMS.

Real hubs (run_hub in-process) on real Mosquitto, InfluxDB and SQLite; the duty officer's group robot is a
local HTTP server (the generic webhook channel).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import gmqtt
import pytest
from aiohttp import web
from sqlalchemy import select

from hub.alerts.tables import OutboxMessage
from hub.app import run_hub
from hub.clock import FrozenClock
from hub.config import parse_config
from hub.devices.canary import CANARY_HOME
from hub.health import ping_register
from hub.register.db import make_engine, session_factory
from hub.register.models import QuarantinedMessage
from hub.store import SqliteStore
from tests.services.influxdb import InfluxServer
from tests.services.mosquitto import Broker, free_port, start_mosquitto
from tests.services.nats import NatsCluster
from tests.site_fixture import make_site

DEADLINE_S = 30.0  # a safety net for polling only


@dataclass
class Robot:
    """The duty group's robot: a local webhook that records what it is sent."""

    url: str
    texts: list[str] = field(default_factory=list)


@pytest.fixture
async def robot() -> AsyncIterator[Robot]:
    texts: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        texts.append(json.loads(await request.read())["text"])
        return web.json_response({})

    async with local_hook(receive) as url:
        yield Robot(url, texts)


@asynccontextmanager
async def local_hook(handler: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[str]:
    """A local HTTP endpoint answering POSTs with `handler` (a robot or provider stand-in); yields its URL."""
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


@dataclass
class Hub:
    url: str
    http: aiohttp.ClientSession
    data_dir: Path

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.url + "/healthz") as resp:
            return resp.status, await resp.json()

    async def metrics(self) -> str:
        async with self.http.get(self.url + "/metrics") as resp:
            return await resp.text()

    def failing(self, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {f["check"]: f for f in body["failing"]}


StartHub = Callable[..., Awaitable[Hub]]


@pytest.fixture
async def start_hub(tmp_path: Path, robot: Robot) -> AsyncIterator[StartHub]:
    """Start run_hub with `extra` config on top of: the test site, SQLite, the robot, fast health checks."""
    tasks: list[asyncio.Task[None]] = []
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE_S))

    async def start(extra: dict[str, Any], clock: FrozenClock | None = None) -> Hub:
        make_site(tmp_path)
        port = free_port()
        health = {"check_interval_s": 0.2, "canary_interval_s": 0.2, "canary_timeout_s": 2.0}
        config = parse_config(
            {
                "data_dir": str(tmp_path),
                "http": {"port": port},
                "alerts": {
                    "webhook": {"url": robot.url},
                    "routes": {"sms": ["twilio_sms"], "voice": ["twilio_voice"], "robot": ["webhook"]},
                    "district_duty": [{"name": "区值班", "phone": "02367000000"}],
                },
                **extra,
                "health": health | extra.get("health", {}),
            },
            env={"HUB_WEBHOOK_SECRET": "s3cret"},
        )
        tasks.append(asyncio.create_task(run_hub(config, clock=clock)))
        hub = Hub(f"http://127.0.0.1:{port}", http, tmp_path)
        await until(_answers(hub), "the hub's HTTP server", tasks[-1])
        return hub

    yield start
    for task in tasks:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await http.close()


def _answers(hub: Hub) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            await hub.health()
        except aiohttp.ClientError:
            return False
        return True

    return check


async def until(
    check: Callable[[], Awaitable[Any]], what: str, task: asyncio.Task[None] | None = None
) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        if task is not None and task.done():
            task.result()
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}; last: {result!r}")
        await asyncio.sleep(0.1)


def _gauge(metrics: str, check: str) -> float | None:
    found = re.search(rf'^hub_health_check_ok\{{check="{check}"\}} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else None


def _system_rows(data_dir: Path) -> list[OutboxMessage]:
    sessions = session_factory(make_engine(f"sqlite:///{data_dir / 'register.sqlite'}"))
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "system")))


# -- broker down -----------------------------------------------------------------------------------------


async def test_a_hub_whose_broker_never_came_up_is_not_ok_and_tells_the_duty_officer(
    start_hub: StartHub, robot: Robot
) -> None:
    closed = free_port()  # nothing listens here
    hub = await start_hub({"mqtt": {"url": f"mqtt://127.0.0.1:{closed}"}})

    async def deaf() -> dict[str, Any] | None:
        status, body = await hub.health()
        return body if status == 503 and "mqtt" in hub.failing(body) else None

    body = await until(deaf, "/healthz to report the MQTT connection")
    mqtt = hub.failing(body)["mqtt"]
    assert body["status"] == "unhealthy" and body["mqtt_connected"] is False
    assert f"nothing listens on 127.0.0.1:{closed}" in mqtt["reason_en"]
    assert "没有 MQTT broker 在监听" in mqtt["reason_zh"]
    assert _gauge(await hub.metrics(), "mqtt") == 0.0
    # The duty officer hears of it by a path without MQTT: the robot and an SMS row (log channel here).
    await until(lambda: _true(any("MQTT 未连接" in t for t in robot.texts)), "the duty group's robot message")
    rows = await asyncio.to_thread(_system_rows, hub.data_dir)
    assert any(r.address == "02367000000" and r.route == "sms" and "MQTT" in r.text for r in rows)


async def _true(value: bool) -> bool:
    return value


async def test_subscriptions_the_broker_refuses_are_named_while_connected(
    start_hub: StartHub, tmp_path: Path
) -> None:
    # NATS refuses every subscription past a session's max_ack_pending sum of 65535: at 20,000 each, all
    # but the first few of the hub's filters. Connected, but deaf to those: not healthy.
    with NatsCluster(tmp_path / "nats", size=1, max_ack_pending=20_000) as nats:
        client_id = f"hub-refused-{uuid.uuid4().hex[:6]}"
        hub = await start_hub({"mqtt": {"urls": nats.urls, "protocol": "3.1.1", "client_id": client_id}})

        async def refused() -> dict[str, Any] | None:
            status, body = await hub.health()
            mqtt = hub.failing(body).get("mqtt")
            return body if status == 503 and mqtt and "refused" in mqtt["reason_en"] else None

        body = await until(refused, "/healthz to name the refused subscriptions")
        assert body["mqtt_connected"] is True
        mqtt = hub.failing(body)["mqtt"]
        assert "+/status" in mqtt["reason_en"] and "拒绝了订阅" in mqtt["reason_zh"]
        assert "zigbee2mqtt/#" not in mqtt["reason_en"]  # subscribed first, granted


# -- the canary --------------------------------------------------------------------------------------------


async def test_the_canary_comes_back_and_a_broken_link_reaches_the_duty_officer(
    start_hub: StartHub, robot: Robot, tmp_path: Path
) -> None:
    broker = start_mosquitto(tmp_path / "broker")
    try:
        hub = await start_hub(
            {"mqtt": {"url": broker.url, "client_id": f"hub-canary-{uuid.uuid4().hex[:6]}"}}
        )

        async def healthy() -> dict[str, Any] | None:
            status, body = await hub.health()
            checks = {c["check"]: c["ok"] for c in body["checks"]}
            return body if status == 200 and checks.get("canary") else None

        await until(lambda: _canary_stored(tmp_path), "the canary's first round trip")
        body = await until(healthy, "a healthy hub")
        assert body["status"] == "ok" and body["failing"] == []
        assert _gauge(await hub.metrics(), "canary") == 1.0
        # The canary is stored as the hub's own, never quarantined, and no real home got a reading from it
        # (it is no elder's sign of life).
        assert await _stored_homes(tmp_path) == {CANARY_HOME}
        sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'register.sqlite'}"))
        with sessions() as session:
            assert session.scalar(select(QuarantinedMessage.id)) is None
    finally:
        broker.process.terminate()
        broker.process.wait(10)

    async def broken() -> dict[str, Any] | None:
        status, body = await hub.health()
        return body if status == 503 and "canary" in hub.failing(body) else None

    body = await until(broken, "the canary check to fail once the broker is gone")
    assert "did not come back" in hub.failing(body)["canary"]["reason_en"]
    await until(
        lambda: _true(any("自检消息未能" in t for t in robot.texts)), "the canary alert to the duty robot"
    )


async def _stored_homes(data_dir: Path) -> set[str]:
    async with SqliteStore(data_dir / "timeseries.sqlite") as store:
        return {r.home for r in await store.latest()}


async def _canary_stored(data_dir: Path) -> bool:
    return CANARY_HOME in await _stored_homes(data_dir)


# -- store spooling ----------------------------------------------------------------------------------------


async def test_a_store_spooling_past_its_limit_is_not_ok(
    start_hub: StartHub, quiet_mosquitto: Broker, influxdb: InfluxServer
) -> None:
    hub = await start_hub(
        {
            "mqtt": {"url": quiet_mosquitto.url, "client_id": f"hub-spool-{uuid.uuid4().hex[:6]}"},
            "store": {"kind": "influxdb", "url": influxdb.url, "database": f"h_{uuid.uuid4().hex[:8]}"},
            "health": {"store_pending_max": 3, "canary_enabled": False},
        }
    )
    await until(lambda: _status_is(hub, 200), "a healthy hub")
    influxdb.stop()
    pub = gmqtt.Client(f"spool-pub-{uuid.uuid4().hex[:6]}")
    await pub.connect(quiet_mosquitto.host, quiet_mosquitto.port)
    for i in range(5):
        pub.publish("zigbee2mqtt/h001_motion", json.dumps({"occupancy": i % 2 == 0}), qos=1)
    await asyncio.sleep(0.2)
    await pub.disconnect()

    async def spooling() -> dict[str, Any] | None:
        status, body = await hub.health()
        return body if status == 503 and "store" in hub.failing(body) else None

    body = await until(spooling, "/healthz to report the spool")
    assert "readings are spooled" in hub.failing(body)["store"]["reason_en"]
    assert "暂存于本地" in hub.failing(body)["store"]["reason_zh"]
    assert _gauge(await hub.metrics(), "store") == 0.0
    influxdb.start()
    await until(lambda: _status_is(hub, 200), "health back once InfluxDB took the spool")


async def _status_is(hub: Hub, status: int) -> bool:
    return (await hub.health())[0] == status


# -- late sweeps and silence (an injected clock) ------------------------------------------------------------


async def test_a_late_rules_sweep_and_a_silent_hub_are_not_ok(
    start_hub: StartHub, quiet_mosquitto: Broker
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    hub = await start_hub(
        {
            "mqtt": {"url": quiet_mosquitto.url, "client_id": f"hub-late-{uuid.uuid4().hex[:6]}"},
            "rules": {"sweep_interval_s": 300},
            "health": {"canary_enabled": False, "silence_s": 3600},
        },
        clock=clock,
    )
    await until(lambda: _status_is(hub, 200), "a healthy hub")
    clock.advance(timedelta(hours=2))  # no sweep, no message for two hours
    status, body = await hub.health()
    failing = hub.failing(body)
    assert status == 503
    assert "the rules sweep is late" in failing["rules"]["reason_en"]
    assert "no device message for too long" in failing["messages"]["reason_en"]
    assert "长时间未收到任何设备消息" in failing["messages"]["reason_zh"]
    metrics = await hub.metrics()
    assert _gauge(metrics, "rules") == 0.0 and _gauge(metrics, "messages") == 0.0


# -- the register ------------------------------------------------------------------------------------------


async def test_an_unreachable_register_is_named() -> None:
    closed = free_port()
    sessions = session_factory(make_engine(f"postgresql+psycopg://hub@127.0.0.1:{closed}/none"))

    def ping() -> None:
        with sessions() as session:
            session.execute(select(1))

    result = await ping_register(ping, 5.0)
    assert (
        not result.ok
        and "the register is unreachable" in result.reason_en
        and "登记库无法访问" in result.reason_zh
    )


@pytest.mark.slow  # blocks the loop for 5 s on purpose
async def test_a_busy_moment_does_not_skip_a_rules_sweep(
    start_hub: StartHub, quiet_mosquitto: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    # APScheduler's default misfire grace is 1 s: a sweep due while the loop was busy for longer (a burst of
    # messages, a slow disk) was dropped with only a log line, so inactivity timers fired a sweep late or not.
    await start_hub(
        {
            "mqtt": {"url": quiet_mosquitto.url, "client_id": f"hub-busy-{uuid.uuid4().hex[:6]}"},
            "rules": {"sweep_interval_s": 4},
            "health": {"canary_enabled": False},
        }
    )
    await asyncio.sleep(1.0)
    # The event loop is blocked over the first sweep's due time (about 4 s after start) until well past
    # APScheduler's grace, and before the second one (about 8 s).
    time.sleep(5.0)  # noqa: ASYNC251 - blocking the loop is the point
    await asyncio.sleep(0.5)
    missed = [r.getMessage() for r in caplog.records if "was missed by" in r.getMessage()]
    assert missed == []


async def test_a_stuck_alert_worker_is_not_ok(start_hub: StartHub) -> None:
    # The duty robot hangs (a provider that takes the request and never answers): the worker waits in its
    # send, nothing else goes out meanwhile, and /healthz must say so.
    asked, release = asyncio.Event(), asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        asked.set()
        await release.wait()
        return web.json_response({})

    async with local_hook(hang) as hook_url:
        try:
            clock = FrozenClock(datetime.now(UTC))
            hub = await start_hub(
                {
                    "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"},  # down: the system alert goes out
                    "alerts": {
                        "webhook": {"url": hook_url},
                        "routes": {"sms": ["twilio_sms"], "voice": ["twilio_voice"], "robot": ["webhook"]},
                        "send_timeout_s": 3600,
                    },
                    "health": {"canary_enabled": False, "alert_worker_late_s": 60},
                },
                clock=clock,
            )
            await asyncio.wait_for(asked.wait(), DEADLINE_S)
            clock.advance(timedelta(minutes=5))
            status, body = await hub.health()
            assert status == 503
            assert "the alert worker is late" in hub.failing(body)["alerts"]["reason_en"]
            assert "告警发送进程迟滞" in hub.failing(body)["alerts"]["reason_zh"]
        finally:
            release.set()  # before the endpoint closes: it waits for the hung request


async def test_notifications_that_reach_only_the_log_are_not_ok(start_hub: StartHub) -> None:
    # The duty robot refuses every message (a revoked robot key): the message ends in the hub's log only.
    # Nobody was told, so /healthz must say that notifications are not getting through.
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"}, status=400)

    async with local_hook(refuse) as hook_url:
        hub = await start_hub(
            {
                "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"},  # down: a system alert goes out
                "alerts": {
                    "webhook": {"url": hook_url},
                    "routes": {"sms": ["twilio_sms"], "voice": ["twilio_voice"], "robot": ["webhook"]},
                },
                "health": {"canary_enabled": False},
            }
        )

        async def undelivered() -> dict[str, Any] | None:
            _, body = await hub.health()
            return hub.failing(body).get("delivery")

        failing = await until(undelivered, "the delivery check to fail")
        assert "通知无法送达" in failing["reason_zh"] and "所有渠道均失败" in failing["reason_zh"]
        assert "not getting through" in failing["reason_en"]
        assert _gauge(await hub.metrics(), "delivery") == 0.0
        assert any(row.status == "failed" and row.sent_via == "log" for row in _system_rows(hub.data_dir))
