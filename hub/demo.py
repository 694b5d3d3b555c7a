"""`eldercare-hub demo`: embedded broker, SQLite, simulated homes and the page, in one process."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.app import RunningHub, build_store, run_hub
from hub.bootstrap import open_register
from hub.care.register import find_elder
from hub.care.visits import VisitInput, record_visit
from hub.care.vocab import HOME_VISIT
from hub.clock import SystemClock
from hub.config import Config, parse_config
from hub.devices.errors import DeviceError
from hub.devices.registry import DeviceRegistry
from hub.models import RawMessage, Reading
from hub.register.bindings import load_bindings
from hub.register.site import load_site
from hub.sim.history import SimVisit, history_visits, play_history
from hub.sim.publisher import Simulation, publish_simulation
from hub.sim.routine import SimMessage
from hub.sim.site import dump_site_yaml, simulated_site
from hub.sim.watch import run_watches
from hub.sources.embedded_broker import pick_port
from hub.web.auth import add_user
from hub.web.tables import WebUser

LOGGER = logging.getLogger(__name__)
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"
HISTORY_DAYS = (
    14  # simulated past loaded on the first start, so every chart and the visit rate show something
)
HISTORY_MARKER = "history-loaded"  # in the data dir: a restarted demo does not load the same past twice
SEED = 1
WATCH_HOMES = 2  # the first homes' elders wear a simulated 4G watch, so the elder page shows a location
SPEED = 60.0  # simulated seconds per wall second
# The simulated watches' keep-alive comes every 5 simulated minutes, 5 wall seconds at SPEED.
WATCH_KEEPALIVE_S = 30.0


def decode_history(sessions: sessionmaker[Session], messages: Sequence[SimMessage]) -> list[Reading]:
    """The readings the hub would have stored for `messages` (received at their simulated times)."""
    registry = DeviceRegistry.default()
    with sessions() as session:
        bindings = load_bindings(session)
    readings: list[Reading] = []
    for message in messages:
        route = registry.route(message.topic)
        binding = None if route is None else bindings.get((route.ecosystem, route.external_id))
        if route is None or binding is None:
            continue
        raw = RawMessage("replay", message.topic, message.payload, message.at)
        try:
            readings += registry.decode(raw, route, binding)
        except DeviceError as exc:  # the simulator speaks the real formats; say so if one ever drifts
            LOGGER.warning("演示历史消息无法解析 %s: %s", message.topic, exc)
    return readings


def record_history_visits(sessions: sessionmaker[Session], visits: Sequence[SimVisit], now: datetime) -> None:
    """The simulated visitors' home visits, as 附件3 records."""
    with sessions.begin() as session:
        for visit in visits:
            data = VisitInput(visited_at=visit.at, method=HOME_VISIT, visitor_name=visit.visitor)
            record_visit(session, find_elder(session, visit.elder), data, now=now)


async def load_history(
    config: Config, sessions: sessionmaker[Session], simulation: Simulation, now: datetime
) -> int:
    """Play the simulation's past into the store and the register (first start only); the readings stored."""
    messages = play_history(simulation, now, HISTORY_DAYS)
    marker = config.data_dir / HISTORY_MARKER
    if marker.exists():
        return 0
    readings = await asyncio.to_thread(decode_history, sessions, messages)
    async with build_store(config) as store:
        for start in range(0, len(readings), 5000):
            await store.write(readings[start : start + 5000])
    site = simulation.site
    visits = history_visits(site, seed=SEED, now=now, days=HISTORY_DAYS)
    await asyncio.to_thread(record_history_visits, sessions, visits, now)
    marker.write_text(now.isoformat(), encoding="utf-8")
    return len(readings)


async def run_demo(*, homes: int, data_dir: Path, port: int, duration: float | None = None) -> None:
    """Load a simulated site, start the hub on embedded defaults, then simulate its homes."""
    # A demo must start: like the embedded broker, it moves to a free port when its own is taken.
    port = pick_port("127.0.0.1", port, what="演示网页", why="可能已有演示在运行；可用 --port 指定其他端口")
    watch_port = pick_port("127.0.0.1", 5093, what="演示手表终端监听", why="可能已有演示或平台在运行")
    # The demo only: requests from this machine without a login act as the demo admin (see docs/web.md).
    # A simulated district duty line, so an escalation that runs out has somewhere to go (the log, in the demo).
    config = parse_config(
        {
            "data_dir": str(data_dir),
            "http": {"port": port},
            "web": {"demo_user": DEMO_USER},
            "alerts": {"district_duty": [{"name": "区民政局值班（演示）", "phone": "02367000000"}]},
            # Plan the visit tasks soon after start, so the board's visit figures are there on first open.
            "care": {"first_run_delay_s": 5},
            # The simulated 4G watches connect here (this machine only), as real ones do over the carrier.
            "watch": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": watch_port,
                "keepalive_s": WATCH_KEEPALIVE_S,
            },
        }
    )
    site_file = data_dir / "site.yaml"
    # The command line reads the demo's data only through a config naming its data dir: write one to point at.
    cli_config = data_dir / "hub.toml"

    site = simulated_site(homes, seed=SEED, watches=min(WATCH_HOMES, homes))
    sessions = await asyncio.to_thread(open_register, config)

    def load() -> str:
        cli_config.write_text(
            f"# Written by eldercare-hub demo: eldercare-hub --config {cli_config} … sees the demo's data.\n"
            f"data_dir = {json.dumps(str(data_dir.resolve()))}\n",
            encoding="utf-8",
        )
        site_file.write_text(dump_site_yaml(site), encoding="utf-8")
        with sessions.begin() as session:
            if session.scalar(select(WebUser.id).where(WebUser.name == DEMO_USER)) is None:
                add_user(session, DEMO_USER, "admin", now=SystemClock().now(), password=DEMO_PASSWORD)
        with sessions.begin() as session:
            return load_site(session, site_file, devices=DeviceRegistry.default()).summary()

    LOGGER.info("演示站点: %s", await asyncio.to_thread(load))
    now = SystemClock().now()
    simulation = Simulation(site, seed=SEED, start=now - timedelta(days=HISTORY_DAYS))
    stored = await load_history(config, sessions, simulation, now)
    if stored:
        LOGGER.info("演示历史: 已载入近 %d 天的模拟读数 %d 条与探访记录", HISTORY_DAYS, stored)
    started: asyncio.Future[RunningHub] = asyncio.get_running_loop().create_future()
    hub_task = asyncio.create_task(run_hub(config, started=started))
    either: set[asyncio.Future[Any]] = {hub_task, started}
    await asyncio.wait(either, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        if hub_task.done():
            hub_task.result()  # failed before it was up: that error at once, not a silent minute of waiting
        hub_task.cancel()
        raise TimeoutError("演示未能在 60 秒内启动")
    running = started.result()
    print(
        f"\n  居家独居老人智能监护平台 演示已启动：请在浏览器打开 {running.http_url}\n"
        f"  本机访问自动以演示管理员身份登录；其他设备请用 用户名 {DEMO_USER} / 密码 {DEMO_PASSWORD} 登录。\n"
        f"  内置 MQTT 代理: {running.broker_url}，模拟 {homes} 户，首个紧急呼叫将在 30 秒内出现。\n"
        f"  命令行查看演示数据须指定其配置: eldercare-hub --config {cli_config} alerts list\n",
        flush=True,
    )
    sim_task = asyncio.create_task(publish_simulation(running.broker_url, simulation, speed=SPEED))
    watch_task = asyncio.create_task(run_watches("127.0.0.1", watch_port, site, seed=SEED, speed=SPEED))
    tasks = (sim_task, watch_task, hub_task)
    try:
        if duration is None:
            await asyncio.gather(*tasks)
        else:
            done, _ = await asyncio.wait(set(tasks), timeout=duration, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
