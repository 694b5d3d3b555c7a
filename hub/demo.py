"""`eldercare-hub demo`: embedded broker, SQLite, simulated homes and the page, in one process."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy import select

from hub.app import RunningHub, open_register, run_hub
from hub.clock import SystemClock
from hub.config import parse_config
from hub.devices.registry import DeviceRegistry
from hub.register.site import load_site
from hub.sim import run_simulation
from hub.sim.site import dump_site_yaml, simulated_site
from hub.web.auth import add_user
from hub.web.tables import WebUser

LOGGER = logging.getLogger(__name__)
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"


async def run_demo(*, homes: int, data_dir: Path, port: int, duration: float | None = None) -> None:
    """Load a simulated site, start the hub on embedded defaults, then simulate its homes."""
    # The demo only: requests from this machine without a login act as the demo admin (see docs/web.md).
    config = parse_config(
        {"data_dir": str(data_dir), "http": {"port": port}, "web": {"demo_user": DEMO_USER}}
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
    running = await asyncio.wait_for(asyncio.shield(started), 60)
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
