"""The board's header strip: figures computed from the register, within each role's jurisdiction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hub.care.plans import plan_visit_tasks
from hub.care.settings import CareConfig
from hub.register.models import Alert, Home
from tests.web.conftest import NOW, Api

TZ = ZoneInfo("Asia/Shanghai")


async def _get(api: Api, user: str, path: str) -> Any:
    async with api.client.get(path, headers=api.auth(user)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _small_site(api: Api) -> None:
    """Two homes: the conftest's three alerts (today, Beijing time), a closed one from yesterday evening;
    visit tasks planned on 11-10 and again now; one home visit to E002 (monthly, so it meets its quota)."""
    with api.sessions.begin() as session:
        h001 = session.scalar(select(Home.id).where(Home.code == "H001"))
        yesterday = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)  # 23:30 Beijing on the 27th
        session.add(
            Alert(
                home_id=h001,
                kind="quiet_gap",
                severity="urgent",
                alert_class="elder",
                state="resolved",
                active_key=None,
                explanation="测试",
                opened_at=yesterday,
                last_seen_at=yesterday,
                closed_at=yesterday,
            )
        )
        plan_visit_tasks(session, datetime(2026, 11, 10, 2, tzinfo=UTC), CareConfig(), TZ)
        plan_visit_tasks(session, NOW, CareConfig(), TZ)
    body = {
        "visited_at": (NOW - timedelta(days=8)).isoformat(),
        "method": "上门探访",
        "visitor_name": "王家属",
    }
    async with api.client.post(
        "/api/v1/visits", json={"elder": "E002", **body}, headers=api.auth("区管理员")
    ) as r:
        assert r.status == 201, await r.text()


async def test_the_district_admin_sees_every_figure_of_the_district(api: Api) -> None:
    await _small_site(api)
    strip = await _get(api, "区管理员", "/api/v1/overview")
    assert strip == {
        "homes": 2,
        "device_problem_homes": 1,  # H002's offline device
        "open_by_severity": {"critical": 2, "warning": 1},
        "open": 3,
        "today": 3,  # yesterday evening's (Beijing) is not today's, though it is the same UTC day
        "visits_due": 1,  # E001's second half of November
        "visits_overdue": 1,  # E001's first half, never visited
        "visit_rate": {"rate": 0.5, "enrolled": 2, "met": 1},
    }


async def test_a_street_sees_its_own_homes_and_maintenance_sees_no_personal_figures(api: Api) -> None:
    await _small_site(api)
    street = await _get(api, "双龙湖街道干部", "/api/v1/overview")
    assert street == {
        "homes": 1,
        "device_problem_homes": 0,
        "open_by_severity": {"critical": 1},
        "open": 1,
        "today": 1,
        "visits_due": 1,
        "visits_overdue": 1,
        "visit_rate": {"rate": 0.0, "enrolled": 1, "met": 0},
    }
    maintenance = await _get(api, "设备维护", "/api/v1/overview")
    assert maintenance["open_by_severity"] == {"warning": 1} and maintenance["device_problem_homes"] == 1
    assert maintenance["visits_due"] is None and maintenance["visit_rate"] is None
    relative = await _get(api, "王家属", "/api/v1/overview")
    assert (
        relative["homes"] == 1 and relative["device_problem_homes"] is None and relative["visit_rate"] is None
    )
