"""`eldercare-hub demo`: embedded broker, SQLite, simulated homes and the page, in one process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub.app import RunningHub, run_hub
from hub.bootstrap import open_register
from hub.clock import SystemClock
from hub.config import parse_config
from hub.devices.registry import DeviceRegistry
from hub.register.site import load_site
from hub.sim import run_simulation
from hub.sim.site import dump_site_yaml, simulated_site
from hub.sources.embedded_broker import pick_port
from hub.web.auth import add_user
from hub.web.tables import WebUser

LOGGER = logging.getLogger(__name__)
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"


async def run_demo(*, homes: int, data_dir: Path, port: int, duration: float | None = None) -> None:
    """Load a simulated site, start the hub on embedded defaults, then simulate its homes."""
    # A demo must start: like the embedded broker, it moves to a free port when its own is taken.
    port = pick_port("127.0.0.1", port, what="演示网页", why="可能已有演示在运行；可用 --port 指定其他端口")
    # The demo only: requests from this machine without a login act as the demo admin (see docs/web.md).
    # A simulated district duty line, so an escalation that runs out has somewhere to go (the log, in the demo).
    config = parse_config(
        {
            "data_dir": str(data_dir),
            "http": {"port": port},
            "web": {"demo_user": DEMO_USER},
            "alerts": {"district_duty": [{"name": "区民政局值班（演示）", "phone": "02367000000"}]},
        }
    )
    site_file = data_dir / "site.yaml"

    def load() -> str:
        sessions = open_register(config)
        site_file.write_text(dump_site_yaml(simulated_site(homes, seed=1)), encoding="utf-8")
        with sessions.begin() as session:
            if session.scalar(select(WebUser.id).where(WebUser.name == DEMO_USER)) is None:
                add_user(session, DEMO_USER, "admin", now=SystemClock().now(), password=DEMO_PASSWORD)
        with sessions.begin() as session:
            return load_site(session, site_file, devices=DeviceRegistry.default()).summary()

    LOGGER.info("演示站点: %s", await asyncio.to_thread(load))
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
        f"  内置 MQTT 代理: {running.broker_url}，模拟 {homes} 户，首个紧急呼叫将在 30 秒内出现。\n",
        flush=True,
    )
    sim_task = asyncio.create_task(run_simulation(running.broker_url, homes, seed=1, speed=60.0))
    try:
        if duration is None:
            await asyncio.gather(hub_task, sim_task)
        else:
            done, _ = await asyncio.wait(
                {hub_task, sim_task}, timeout=duration, return_when=asyncio.FIRST_EXCEPTION
            )
            for task in done:
                task.result()
    finally:
        for task in (sim_task, hub_task):
            task.cancel()
        await asyncio.gather(sim_task, hub_task, return_exceptions=True)
