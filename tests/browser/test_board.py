"""The dashboard in headless Chromium (Debian's package, driven by Playwright) on a real hub and broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gmqtt
import pytest
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy import select

from hub.alerts.tables import Escalation
from hub.app import RunningHub, run_hub
from hub.clock import FrozenClock
from hub.config import parse_config
from hub.devices.watch import encode_frame
from hub.register.db import make_engine, session_factory
from hub.register.models import Alert, Home
from hub.web.auth import add_user
from tests.services.mosquitto import Broker, free_port
from tests.site_fixture import SITE_YAML, make_site

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "board-test-password"
WAIT_MS = 20_000  # a safety net for waiting only; nothing asserts how long anything took
# The README's screenshot is refreshed only on request (BOARD_SCREENSHOT=docs/board.png), so that a test run
# never changes a tracked file; otherwise the picture goes to the test's temporary directory.
SCREENSHOT_ENV = "BOARD_SCREENSHOT"

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="chromium not installed")


@pytest.fixture
async def hub_url(quiet_mosquitto: Broker, tmp_path: Path) -> AsyncIterator[str]:
    async with _hub(quiet_mosquitto, tmp_path, {}) as url:
        yield url


@contextlib.asynccontextmanager
async def _hub(
    quiet_mosquitto: Broker,
    tmp_path: Path,
    health: dict[str, Any],
    clock: FrozenClock | None = None,
    *,
    site_yaml: str = SITE_YAML,
    extra: dict[str, Any] | None = None,
) -> AsyncIterator[str]:
    sessions = make_site(tmp_path, site_yaml=site_yaml)
    with sessions.begin() as session:
        now = datetime.now(UTC)
        add_user(session, "值班员", "admin", now=now, password=PASSWORD)
        add_user(session, "王家属", "relative", now=now, password=PASSWORD, elders=["E002"])
    config = parse_config(
        {
            "data_dir": str(tmp_path),
            "mqtt": {"url": quiet_mosquitto.url, "client_id": f"browser-hub-{uuid.uuid4().hex[:8]}"},
            "http": {"port": free_port()},
            "health": health,
            **(extra or {}),
        },
        env={},
    )
    started: asyncio.Future[RunningHub] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_hub(config, started=started, clock=clock))
    done, _ = await asyncio.wait([started, task], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    try:
        yield started.result().http_url
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def _publish(broker: Broker, topic: str, payload: dict[str, Any]) -> None:
    pub = gmqtt.Client(f"browser-pub-{uuid.uuid4().hex[:8]}")
    await pub.connect(broker.host, broker.port)
    try:
        pub.publish(topic, json.dumps(payload).encode(), qos=1)
        for _ in range(200):
            if not pub._persistent_storage.get_all():
                break
            await asyncio.sleep(0.05)
    finally:
        await pub.disconnect()


async def _login(browser: Browser, url: str, name: str) -> Page:
    page = await browser.new_page(viewport={"width": 420, "height": 860})  # a phone screen
    await page.goto(url + "/")
    await page.fill("#login input[name=name]", name)
    await page.fill("#login input[name=password]", PASSWORD)
    await page.click("#login button[type=submit]")
    await page.wait_for_selector("#board-status >> text=已连接", timeout=WAIT_MS)
    return page


async def test_new_sos_appears_live_and_ack_from_the_board_updates_it(
    hub_url: str, browser: Browser, quiet_mosquitto: Broker, tmp_path: Path
) -> None:
    page = await _login(browser, hub_url, "值班员")
    assert await page.locator("li.alert").count() == 0
    await page.evaluate("window.__notReloaded = true")
    await _publish(quiet_mosquitto, "zigbee2mqtt/h001_sos", {"action": "emergency", "linkquality": 90})
    card = page.locator("li.alert[data-kind=sos]")
    await card.wait_for(timeout=WAIT_MS)
    assert await page.evaluate("window.__notReloaded") is True  # it came over the stream, not a reload
    assert "紧急" in await card.inner_text() and "尚无人接单" in await card.inner_text()
    await card.locator("button.ack").click()
    await page.wait_for_selector("li.alert[data-kind=sos][data-state=acknowledged]", timeout=WAIT_MS)
    text = await page.locator("li.alert[data-kind=sos]").inner_text()
    assert "已接单" in text and "接单：值班员" in text
    assert await page.evaluate("window.__notReloaded") is True
    # Another SOS (H002) while the board is open: both are now on it, the new one on top.
    await _publish(quiet_mosquitto, "zigbee2mqtt/h002_sos", {"action": "emergency", "linkquality": 80})
    await page.wait_for_selector("li.alert[data-kind=sos][data-state=notifying], li.alert[data-state=open]")
    await page.set_viewport_size({"width": 900, "height": 700})
    shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "board.png")
    png = await page.screenshot(path=str(shot), full_page=True)
    assert len(png) > 10_000  # a rendered board, not a blank page


async def test_relative_sees_only_their_elder(
    hub_url: str, browser: Browser, quiet_mosquitto: Broker
) -> None:
    await _publish(quiet_mosquitto, "zigbee2mqtt/h001_sos", {"action": "emergency", "linkquality": 90})
    await _publish(quiet_mosquitto, "zigbee2mqtt/h002_sos", {"action": "emergency", "linkquality": 90})
    page = await _login(browser, hub_url, "王家属")
    await page.wait_for_selector("li.alert[data-kind=sos]", timeout=WAIT_MS)
    board = await page.locator("#board").inner_text()
    assert "H002" in board and "H001" not in board
    await page.click("nav a[href='#/elders']")
    await page.wait_for_selector("#elders li", timeout=WAIT_MS)
    elders = await page.locator("#elders li").all_inner_texts()
    assert len(elders) == 1 and "E002" in elders[0]
    assert await page.locator("nav a[href='#/quarantine']").is_hidden()
    await page.goto(hub_url + "/#/elder/E001")  # typed by hand: the API refuses it
    await page.wait_for_selector("p.error", timeout=WAIT_MS)
    assert "管辖范围" in await page.locator("p.error").inner_text()


async def test_an_exhausted_alert_is_red_on_top_and_configuration_gaps_are_shown(
    hub_url: str, browser: Browser, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'register.sqlite'}")
    now = datetime.now(UTC)
    with session_factory(engine).begin() as session:
        homes = dict(session.execute(select(Home.code, Home.id)).all())
        ids = []
        for code, minutes in (("H001", 30), ("H002", 1)):  # H001's is older: newest-first would bury it
            alert = Alert(
                home_id=homes[code],
                kind="sos",
                severity="critical",
                alert_class="elder",
                state="notifying",
                active_key=f"{code}/sos",
                device_code=f"{code}-sos",
                explanation="按下紧急呼叫按钮",
                opened_at=now - timedelta(minutes=minutes),
                last_seen_at=now,
            )
            session.add(alert)
            session.flush()
            ids.append(alert.id)
        session.add(
            Escalation(
                alert_id=ids[0],
                policy="critical",
                status="exhausted",
                note="无人接单·已升级区值班",
                updated_at=now,
                due_at=now + timedelta(hours=1),
            )
        )
    engine.dispose()
    page = await _login(browser, hub_url, "值班员")
    first = page.locator("li.alert").first
    await first.wait_for(timeout=WAIT_MS)
    assert await first.get_attribute("data-id") == str(ids[0])
    assert "无人接单·已升级区值班" in await first.inner_text()
    red = await first.evaluate("e => getComputedStyle(e).borderLeftColor")
    assert red == "rgb(198, 40, 40)"  # --red
    # This hub runs without a district duty line, and H002 has nobody in the register: both are errors.
    gaps = page.locator("#coverage")
    await gaps.wait_for(timeout=WAIT_MS)
    text = await gaps.inner_text()
    assert "配置错误" in text and "district_duty" in text and "H002" in text


async def test_the_board_says_when_the_hub_itself_is_not_healthy(
    quiet_mosquitto: Broker, browser: Browser, tmp_path: Path
) -> None:
    # Nothing has been heard for longer than allowed: no alert can appear, so the board must say why.
    clock = FrozenClock(datetime.now(UTC))
    async with _hub(quiet_mosquitto, tmp_path, {"canary_enabled": False}, clock) as url:
        clock.advance(timedelta(hours=3))
        page = await _login(browser, url, "值班员")
        banner = page.locator("#hub-health")
        await banner.wait_for(state="visible", timeout=WAIT_MS)
        text = await banner.inner_text()
        assert "平台自检未通过" in text and "长时间未收到任何设备消息" in text


async def test_the_resolve_dialog_offers_the_four_outcomes_and_the_false_alarm_page_counts_them(
    hub_url: str, browser: Browser, quiet_mosquitto: Broker
) -> None:
    page = await _login(browser, hub_url, "值班员")
    await _publish(quiet_mosquitto, "zigbee2mqtt/h001_sos", {"action": "emergency", "linkquality": 90})
    card = page.locator("li.alert[data-kind=sos]")
    await card.wait_for(timeout=WAIT_MS)
    await card.locator("button.resolve").click()
    outcome = card.locator("select[name=outcome]")
    assert await outcome.locator("option").all_inner_texts() == [
        "老人自报平安",
        "探访确认无事",
        "确有险情",
        "设备故障",
    ]
    await outcome.select_option("visit_ok")
    await card.locator("form.resolve-form button[type=submit]").click()
    await page.locator("li.alert[data-kind=sos]").wait_for(state="detached", timeout=WAIT_MS)
    await page.click("nav a[href='#/false-alarms']")
    await page.wait_for_selector("main h2 >> text=误报率", timeout=WAIT_MS)
    text = await page.locator("main").inner_text()
    assert "紧急求助" in text and "100.0%" in text


async def test_elder_page_shows_the_last_position_a_watch_sent_over_tcp(
    quiet_mosquitto: Broker, browser: Browser, tmp_path: Path
) -> None:
    watch_id, watch_port = "8800000015", free_port()
    site = SITE_YAML.replace(
        "model: health_monitor}\n",
        "model: health_monitor}\n"
        f"      - {{code: H001-watch, ecosystem: watch, external_id: '{watch_id}', model: 4g_watch}}\n",
    ).replace(
        "        categories: [独居]\n",
        "        categories: [独居]\n        safe_zone: {lat: 29.6, lon: 106.5, radius_m: 800}\n",
        1,
    )
    extra = {"watch": {"enabled": True, "host": "127.0.0.1", "port": watch_port}}
    async with _hub(quiet_mosquitto, tmp_path, {}, site_yaml=site, extra=extra) as url:
        now = datetime.now(UTC)
        body = f"UD,{now:%d%m%y},{now:%H%M%S},A,29.612345,N,106.512345,E,0.1,0.0,100,7,60,90,1000,50,00000000,0,0"
        reader, writer = await asyncio.open_connection("127.0.0.1", watch_port)
        try:
            writer.write(encode_frame("3G", watch_id, body) + encode_frame("3G", watch_id, "LK"))
            await writer.drain()
            # The LK reply comes once the UD before it is durable (one batch, replies in order).
            assert await asyncio.wait_for(reader.readuntil(b"]"), 20) == encode_frame("3G", watch_id, "LK")
        finally:
            writer.close()
        page = await _login(browser, url, "值班员")
        await page.goto(url + "/#/elder/E001")
        await page.wait_for_selector("#elder-location", timeout=WAIT_MS)
        text = await page.locator("#elder-location").inner_text()
        assert "纬度 29.612345" in text and "经度 106.512345" in text and "WGS-84" in text
        assert "H001-watch" in text
        assert "半径 800 米" in await page.locator("section.card").first.inner_text()
