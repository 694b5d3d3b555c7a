"""What a duty officer sees, in headless Chromium on a real hub: the overview strip, every alert kind by its
Chinese name, the timeline in Chinese, the Beijing-time visit form, and the district admin's pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, Page
from sqlalchemy import select

from hub.alerts.outbox import enqueue
from hub.alerts.tables import OutboxMessage
from hub.register.db import make_engine, session_factory
from hub.register.models import Alert, AlertEvent, Home
from hub.rules.kinds import kind_name
from tests.browser import test_board
from tests.browser.test_board import PASSWORD, WAIT_MS, _login
from tests.web.test_vocabulary import RAISED

# The board's fixtures (a real hub on a private broker; Debian's Chromium), and its skip when Chromium is absent.
hub_url = test_board.hub_url
browser = test_board.browser
pytestmark = test_board.pytestmark

BEIJING = ZoneInfo("Asia/Shanghai")
ENGLISH_WORD = re.compile(r"\b(sms|voice|sent|failed|pending|act|fyi|visitor|responsible|notifying|log)\b")


def _sessions(tmp_path: Path):  # type: ignore[no-untyped-def]
    return session_factory(make_engine(f"sqlite:///{tmp_path / 'register.sqlite'}"))


def _alerts_of_every_kind(tmp_path: Path) -> None:
    """One active alert of each kind the rules can raise (device kinds as device alerts), at H001."""
    now = datetime.now(UTC)
    with _sessions(tmp_path).begin() as session:
        h001 = session.scalar(select(Home.id).where(Home.code == "H001"))
        assert h001 is not None
        for i, kind in enumerate(RAISED):
            device = kind.startswith("device_") or kind == "battery_low"
            session.add(
                Alert(
                    home_id=h001,
                    kind=kind,
                    severity="warning" if device else "urgent",
                    alert_class="device" if device else "elder",
                    state="notifying",
                    active_key=f"H001/{kind}",
                    device_code="H001-motion",
                    explanation="测试说明",
                    opened_at=now - timedelta(minutes=i),
                    last_seen_at=now,
                )
            )


async def test_the_board_has_an_overview_strip_and_names_every_kind_in_chinese(
    hub_url: str, browser: Browser, tmp_path: Path
) -> None:
    _alerts_of_every_kind(tmp_path)
    page = await _login(browser, hub_url, "值班员")
    strip = page.locator("#overview")
    await strip.locator("[data-key=homes] strong").wait_for(timeout=WAIT_MS)
    assert await strip.locator("[data-key=homes] strong").inner_text() == "2"
    assert await strip.locator("[data-key=devices] strong").inner_text() == "1"  # H001's device alerts
    assert await strip.locator("[data-key=open] strong").inner_text() == str(len(RAISED))
    assert "重要" in await strip.locator("[data-key=open]").inner_text()
    assert await strip.locator("[data-key=rate] strong").inner_text() == "0.0%"
    hrefs = {
        k: await strip.locator(f"[data-key={k}]").get_attribute("href") for k in ("devices", "visits", "rate")
    }
    assert hrefs == {"devices": "#/devices", "visits": "#/tasks", "rate": "#/compliance"}

    await page.locator("li.alert").nth(len(RAISED) - 1).wait_for(timeout=WAIT_MS)
    titles = {
        await card.get_attribute("data-kind"): await card.locator("a.kind").inner_text()
        for card in await page.locator("li.alert").all()
    }
    assert titles == {kind: kind_name(kind) for kind in RAISED}

    await strip.locator("[data-key=devices]").click()
    await page.wait_for_selector("main h2 >> text=设备状况", timeout=WAIT_MS)


async def test_the_timeline_is_in_chinese_and_sms_and_calls_look_different(
    hub_url: str, browser: Browser, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    with _sessions(tmp_path).begin() as session:
        h001 = session.scalar(select(Home.id).where(Home.code == "H001"))
        alert = Alert(
            home_id=h001,
            kind="quiet_gap",
            severity="urgent",
            alert_class="elder",
            state="notifying",
            active_key="H001/quiet_gap",
            explanation="自 06:05 起未见活动",
            opened_at=now,
            last_seen_at=now,
        )
        session.add(alert)
        session.flush()
        session.add(AlertEvent(alert_id=alert.id, at=now, event="notifying", detail="第1步：通知李娜"))
        for key, route, name in (("s", "sms", "李娜"), ("v", "voice", "赵强")):
            enqueue(
                session,
                alert_id=alert.id,
                key=f"browser-{key}",
                purpose="act",
                role="visitor" if route == "sms" else "responsible",
                name=name,
                address="13900000001",
                route=route,
                text="【居家监护】张秀英异常静默告警",
                at=now + timedelta(days=1),  # not yet due: the hub's worker leaves them as they are here
            )
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.alert_id == alert.id)):
            row.status, row.sent_at = "sent", now
            row.sent_via = "gsm_sms" if row.route == "sms" else "twilio_voice"
        alert_id = alert.id
    page = await _login(browser, hub_url, "值班员")
    await page.goto(f"{hub_url}/#/alert/{alert_id}")
    lines = page.locator("#notifications li")
    await lines.nth(1).wait_for(timeout=WAIT_MS)
    sms, voice = await lines.all_inner_texts()
    assert "短信" in sms and "短信猫" in sms and "李娜（探访人员）" in sms and "已发送" in sms
    assert "语音电话" in voice and "赵强（责任人）" in voice and "已发送" in voice
    colours = [
        await page.locator(f"#notifications .route-{r}.badge").evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        for r in ("sms", "voice")
    ]
    assert colours[0] != colours[1]
    text = await page.locator("main").inner_text()
    assert "异常静默" in text and "开始通知" in text and not ENGLISH_WORD.search(text), text


async def test_before_login_there_is_no_navigation_and_the_visit_form_speaks_beijing_time(
    hub_url: str, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": 420, "height": 860}, timezone_id="America/New_York")
    await page.goto(hub_url + "/")
    await page.wait_for_selector("#login", timeout=WAIT_MS)
    assert await page.locator("#nav").is_hidden() and await page.locator("#logout").is_hidden()
    await page.fill("#login input[name=name]", "值班员")
    await page.fill("#login input[name=password]", PASSWORD)
    await page.click("#login button[type=submit]")
    await page.wait_for_selector("#board-status >> text=已连接", timeout=WAIT_MS)
    assert await page.locator("#logout").is_visible()
    before = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M")
    await page.goto(hub_url + "/#/visit")
    value = await page.locator("#visit-form input[name=visited_at]").input_value()
    after = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M")
    assert value in (before, after)  # the browser is in New York; the form is in Beijing time


async def _page(page: Page, url: str, hash_: str, heading: str) -> None:
    await page.goto(f"{url}/{hash_}")
    await page.wait_for_selector(f"main h2 >> text={heading}", timeout=WAIT_MS)


async def test_the_district_admin_pages_tasks_absences_modes_users_and_an_empty_quarantine(
    hub_url: str, browser: Browser
) -> None:
    page = await _login(browser, hub_url, "值班员")
    await _page(page, hub_url, "#/quarantine", "隔离消息")
    assert "暂无" in await page.locator("main").inner_text()
    await _page(page, hub_url, "#/tasks", "探访与核实任务")

    await _page(page, hub_url, "#/absences", "外出登记")
    form = page.locator("#absence-form")
    await form.locator("select[name=home]").select_option("H002")
    await form.locator("input[name=start]").fill("2026-12-01 08:00")
    await form.locator("input[name=end]").fill("2026-12-03 18:00")
    await form.locator("input[name=reason]").fill("住院")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("main table >> text=住院", timeout=WAIT_MS)
    assert "12/01 08:00" in await page.locator("main table").inner_text()  # shown back in Beijing time

    await _page(page, hub_url, "#/modes", "关爱模式")
    form = page.locator("#mode-form")
    await form.locator("input[name=start]").fill("2026-12-01 00:00")
    await form.locator("input[name=end]").fill("2026-12-05 00:00")
    await form.locator("input[name=note]").fill("高温橙色预警")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("main table >> text=高温橙色预警", timeout=WAIT_MS)
    assert "极端天气" in await page.locator("main table").inner_text()

    await _page(page, hub_url, "#/users", "用户管理")
    form = page.locator("#user-form")
    await form.locator("input[name=name]").fill("维护小王")
    await form.locator("select[name=role]").select_option("maintenance")
    await form.locator("input[name=password]").fill("a long password")
    await form.locator("button[type=submit]").click()
    row = page.locator("#users tr[data-user=维护小王]")
    await row.wait_for(timeout=WAIT_MS)
    await row.locator("button").click()
    await page.locator("dialog.confirm button.primary").click()  # the in-page dialog, not confirm()
    await page.wait_for_selector("#users tr[data-user=维护小王] >> text=已停用", timeout=WAIT_MS)


async def test_the_page_draws_chinese_glyphs_not_boxes(hub_url: str, browser: Browser) -> None:
    # Without a CJK font every Chinese character is drawn as the same empty box (tofu), like a code point no
    # font has. With one, each character is its own picture, and none looks like the box.
    page = await browser.new_page(viewport={"width": 600, "height": 300})
    await page.goto(hub_url + "/")
    await page.wait_for_selector("#login", timeout=WAIT_MS)
    chars = ["居", "家", "监", "护", "告", "警"]
    tofu = "\u0378"  # unassigned: every font draws its "missing glyph" box
    await page.evaluate(
        """(chars) => {
            const box = document.createElement("div");
            box.id = "glyphs";
            for (const c of chars) {
                const s = document.createElement("span");
                s.textContent = c;
                s.style.cssText = "display:inline-block;font-size:48px;width:64px;height:64px;line-height:64px";
                box.append(s);
            }
            document.body.prepend(box);
        }""",
        [*chars, tofu],
    )
    shots = [await span.screenshot() for span in await page.locator("#glyphs span").all()]
    *glyphs, box = shots
    assert len(set(glyphs)) == len(chars), "two Chinese characters drew the same picture: boxes, not glyphs"
    assert box not in glyphs
