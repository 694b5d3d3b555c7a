"""Roles and jurisdiction: each role sees its own and gets 403 (audited) for the rest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.alerts.tables import Escalation
from hub.models import Reading, Signal
from hub.web.tables import AuditEntry
from tests.web.conftest import NOW, Api, make_api

ALERTS_SEEN = {
    "区管理员": {"H001/sos", "H002/sos", "H002/offline"},
    "双龙湖街道干部": {"H001/sos"},
    "松牌社区干部": {"H002/sos", "H002/offline"},
    "李娜": {"H001/sos"},
    "王家属": {"H002/sos", "H002/offline"},
    "设备维护": {"H002/offline"},
}
ELDERS_SEEN = {
    "区管理员": ["E001", "E002"],
    "双龙湖街道干部": ["E001"],
    "松牌社区干部": ["E002"],
    "李娜": ["E001"],
    "王家属": ["E002"],
}


async def _get(api: Api, user: str, path: str, status: int = 200) -> Any:
    async with api.client.get(path, headers=api.auth(user)) as resp:
        assert resp.status == status, (user, path, resp.status, await resp.text())
        return await resp.json()


async def _post(api: Api, user: str, path: str, body: dict[str, Any], status: int = 200) -> Any:
    async with api.client.post(path, json=body, headers=api.auth(user)) as resp:
        assert resp.status == status, (user, path, resp.status, await resp.text())
        return await resp.json()


async def _put(api: Api, user: str, path: str, body: dict[str, Any], status: int) -> Any:
    async with api.client.put(path, json=body, headers=api.auth(user)) as resp:
        assert resp.status == status, (user, path, resp.status, await resp.text())
        return await resp.json()


def _denials(api: Api, actor: str) -> list[str]:
    with api.sessions() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.actor == actor, AuditEntry.action == "denied")
        ).all()
        return [r.target for r in rows]


@pytest.mark.parametrize("user", list(ALERTS_SEEN))
async def test_each_role_sees_exactly_the_alerts_of_its_jurisdiction(api: Api, user: str) -> None:
    rows = await _get(api, user, "/api/v1/alerts")
    assert {f"{a['home']}/{a['kind']}" for a in rows} == ALERTS_SEEN[user]
    homes = {h["code"] for h in await _get(api, user, "/api/v1/homes")}
    assert homes == {key.split("/")[0] for key in ALERTS_SEEN[user]} | (
        {"H001", "H002"} if user in ("区管理员", "设备维护") else set()
    )


@pytest.mark.parametrize("user", list(ELDERS_SEEN))
async def test_each_role_lists_only_its_elders_masked(api: Api, user: str) -> None:
    rows = await _get(api, user, "/api/v1/elders")
    assert [e["code"] for e in rows] == ELDERS_SEEN[user]
    assert all("****" in e["phone"] for e in rows)


async def test_maintenance_gets_no_personal_data_and_the_denial_is_audited(api: Api) -> None:
    await _get(api, "设备维护", "/api/v1/elders", 403)
    await _get(api, "设备维护", "/api/v1/elders/E002", 403)
    await _get(api, "设备维护", "/api/v1/visits", 403)
    homes = await _get(api, "设备维护", "/api/v1/homes")
    assert all(h["elders"] == [] for h in homes) and homes[0]["address"]
    devices = await _get(api, "设备维护", "/api/v1/devices")
    assert {d["home"] for d in devices} == {"H001", "H002"}
    timeline = await _get(api, "设备维护", f"/api/v1/alerts/{api.alert_ids['H002/offline']}/timeline")
    assert timeline["alert"]["elders"] == [] and timeline["notifications"] == []
    await _get(api, "设备维护", f"/api/v1/alerts/{api.alert_ids['H002/sos']}/timeline", 403)
    assert _denials(api, "设备维护") == [
        "GET /api/v1/elders",
        "GET /api/v1/elders/E002",
        "GET /api/v1/visits",
        f"GET /api/v1/alerts/{api.alert_ids['H002/sos']}/timeline",
    ]


@pytest.mark.parametrize(
    ("user", "elder", "status"),
    [
        ("双龙湖街道干部", "E001", 200),
        ("双龙湖街道干部", "E002", 403),
        ("松牌社区干部", "E002", 200),
        ("松牌社区干部", "E001", 403),
        ("李娜", "E001", 200),
        ("李娜", "E002", 403),
        ("王家属", "E002", 200),
        ("王家属", "E001", 403),
    ],
)
async def test_elder_detail_in_and_out_of_scope(api: Api, user: str, elder: str, status: int) -> None:
    body = await _get(api, user, f"/api/v1/elders/{elder}", status)
    if status == 200:
        assert body["code"] == elder and "****" in body["phone"]
        assert "13800000" not in str(body)  # no unmasked phone anywhere in the record
    else:
        assert _denials(api, user) == [f"GET /api/v1/elders/{elder}"]


async def test_revealing_personal_data_is_staff_only_and_audited(api: Api) -> None:
    shown = await _post(api, "双龙湖街道干部", "/api/v1/elders/E001/reveal", {})
    assert shown["phone"] == "13800000001"
    await _post(api, "双龙湖街道干部", "/api/v1/elders/E002/reveal", {}, 403)
    await _post(api, "李娜", "/api/v1/elders/E001/reveal", {}, 403)
    await _post(api, "王家属", "/api/v1/elders/E002/reveal", {}, 403)
    log = await _get(api, "区管理员", "/api/v1/audit?action=reveal")
    assert [(e["actor"], e["target"]) for e in log] == [("双龙湖街道干部", "E001")]
    await _get(api, "双龙湖街道干部", "/api/v1/audit", 403)


async def test_acknowledging_is_scoped_and_audited(api: Api) -> None:
    h1, h2 = api.alert_ids["H001/sos"], api.alert_ids["H002/sos"]
    await _post(api, "李娜", f"/api/v1/alerts/{h2}/ack", {}, 403)
    done = await _post(api, "李娜", f"/api/v1/alerts/{h1}/ack", {})
    assert done["state"] == "acknowledged"
    board = await _get(api, "区管理员", "/api/v1/alerts?active=1")
    assert next(a for a in board if a["id"] == h1)["accepted_by"] in ("", "李娜")  # no escalation row here
    timeline = await _get(api, "李娜", f"/api/v1/alerts/{h1}/timeline")
    assert timeline["events"][-1]["detail"].startswith("李娜")
    await _post(api, "设备维护", f"/api/v1/alerts/{h1}/resolve", {"outcome": "x"}, 403)
    acks = await _get(api, "区管理员", "/api/v1/audit?action=ack")
    assert [(e["actor"], e["target"]) for e in acks] == [("李娜", f"alert {h1}")]


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        ("区管理员", "/api/v1/quarantine", 200),
        ("设备维护", "/api/v1/quarantine", 200),
        ("双龙湖街道干部", "/api/v1/quarantine", 403),
        ("王家属", "/api/v1/quarantine", 403),
        ("设备维护", "/api/v1/partitions", 200),
        ("双龙湖街道干部", "/api/v1/partitions", 200),
        ("王家属", "/api/v1/partitions", 403),
        ("李娜", "/api/v1/partitions", 403),
        ("区管理员", "/api/v1/reports/visit-rate?month=2026-11", 200),
        ("双龙湖街道干部", "/api/v1/reports/visit-rate?month=2026-11", 200),
        ("李娜", "/api/v1/reports/visit-rate?month=2026-11", 403),
        ("王家属", "/api/v1/tasks", 403),
        ("李娜", "/api/v1/tasks", 200),
        ("双龙湖街道干部", "/api/v1/exports/ledger", 403),
        ("王家属", "/api/v1/devices", 403),
        ("松牌社区干部", "/api/v1/devices", 200),
        ("李娜", "/api/v1/absences", 200),
        ("设备维护", "/api/v1/absences", 403),
    ],
)
async def test_route_permissions(api: Api, user: str, path: str, status: int) -> None:
    await _get(api, user, path, status)


async def test_report_of_street_staff_holds_only_their_street(api: Api) -> None:
    report = await _get(api, "双龙湖街道干部", "/api/v1/reports/visit-rate?month=2026-11")
    assert {r["street"] for r in report["by_street"]} == {"双龙湖街道"}
    assert {e["street"] for e in report["not_visited"]} <= {"双龙湖街道"}
    whole = await _get(api, "区管理员", "/api/v1/reports/visit-rate?month=2026-11")
    assert {r["street"] for r in whole["by_street"]} == {"双龙湖街道", "龙溪街道"}


async def test_readings_by_time_range_in_scope(api: Api) -> None:
    await api.store.write(
        [
            Reading(
                "H001", "H001-health", Signal.HEART_RATE, 70.0 + i, NOW - timedelta(days=i, minutes=1), "bpm"
            )
            for i in range(10)
        ]
    )
    rows = await _get(api, "李娜", "/api/v1/homes/H001/readings?signal=heart_rate")
    assert sorted(r["value"] for r in rows) == [70.0 + i for i in range(7)]  # the default: the last 7 days
    start = (NOW - timedelta(days=9, hours=1)).isoformat()
    end = (NOW - timedelta(days=7, hours=-1)).isoformat()
    rows = await _get(api, "李娜", f"/api/v1/homes/H001/readings?from={start}&to={end}".replace("+", "%2B"))
    assert sorted(r["value"] for r in rows) == [77.0, 78.0, 79.0]
    await _get(api, "王家属", "/api/v1/homes/H001/readings", 403)
    await _get(api, "李娜", "/api/v1/homes/H001/readings?from=yesterday", 400)
    await _get(api, "设备维护", "/api/v1/homes/H001/readings", 403)


async def test_elder_record_shows_the_last_location_with_its_datum(api: Api) -> None:
    assert (await _get(api, "李娜", "/api/v1/elders/E001"))["location"] is None
    earlier, later = NOW - timedelta(hours=2), NOW - timedelta(minutes=10)
    await api.store.write(
        [
            Reading("H001", "H001-watch", Signal.LATITUDE, 29.6, earlier),
            Reading("H001", "H001-watch", Signal.LONGITUDE, 106.5, earlier),
            Reading("H001", "H001-watch", Signal.GEO_DATUM, 0.0, earlier),
            Reading("H001", "H001-watch", Signal.LATITUDE, 29.61234, later),
            Reading("H001", "H001-watch", Signal.LONGITUDE, 106.51234, later),
            Reading("H001", "H001-watch", Signal.GEO_DATUM, 1.0, later),
        ]
    )
    location = (await _get(api, "李娜", "/api/v1/elders/E001"))["location"]
    assert location == {
        "device": "H001-watch",
        "lat": 29.61234,
        "lon": 106.51234,
        "ts": later.isoformat(),
        "datum": "GCJ-02",
    }


async def test_staff_set_and_clear_a_safe_zone_the_visitor_cannot(api: Api) -> None:
    zone = {"lat": 29.6, "lon": 106.5, "radius_m": 800}
    await _put(api, "李娜", "/api/v1/elders/E001/safe-zone", zone, 403)
    await _put(api, "双龙湖街道干部", "/api/v1/elders/E002/safe-zone", zone, 403)  # not in her street
    bad = await _put(api, "双龙湖街道干部", "/api/v1/elders/E001/safe-zone", {**zone, "radius_m": 5}, 400)
    assert "radius_m" in bad["error"]
    made = await _put(api, "双龙湖街道干部", "/api/v1/elders/E001/safe-zone", zone, 200)
    assert made["safe_zone"] == {**zone, "datum": "wgs84"}
    assert (await _get(api, "李娜", "/api/v1/elders/E001"))["safe_zone"] == {**zone, "datum": "wgs84"}
    async with api.client.delete("/api/v1/elders/E001/safe-zone", headers=api.auth("区管理员")) as resp:
        assert resp.status == 200
    assert (await _get(api, "李娜", "/api/v1/elders/E001"))["safe_zone"] is None
    with api.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("%safe_zone")).order_by(AuditEntry.id)
        ).all()
    assert actions == ["set_safe_zone", "clear_safe_zone"]


async def test_visitor_records_a_visit_only_for_an_assigned_elder(api: Api) -> None:
    body = {
        "visited_at": (NOW - timedelta(hours=1)).isoformat(),
        "method": "上门探访",
        "visitor_name": "李娜",
    }
    made = await _post(api, "李娜", "/api/v1/visits", {"elder": "E001", **body}, 201)
    assert made["seq"] == 1
    await _post(api, "李娜", "/api/v1/visits", {"elder": "E002", **body}, 403)
    assert [v["elder"] for v in await _get(api, "王家属", "/api/v1/visits")] == []
    assert [v["elder"] for v in await _get(api, "区管理员", "/api/v1/visits")] == ["E001"]


async def test_absences_and_modes(api: Api) -> None:
    span = {"start": NOW.isoformat(), "end": (NOW + timedelta(days=2)).isoformat()}
    made = await _post(api, "李娜", "/api/v1/absences", {"home": "H001", "reason": "住院", **span}, 201)
    assert made["home"] == "H001"
    await _post(api, "李娜", "/api/v1/absences", {"home": "H002", **span}, 403)
    assert [a["home"] for a in await _get(api, "松牌社区干部", "/api/v1/absences")] == []
    mode = {"kind": "weather", "scope": "street", "street": "龙溪街道", "factor": 0.5, **span}
    await _post(api, "双龙湖街道干部", "/api/v1/modes", mode, 403)
    await _post(api, "区管理员", "/api/v1/modes", mode, 201)
    assert [m["street"] for m in await _get(api, "松牌社区干部", "/api/v1/modes")] == ["龙溪街道"]
    assert await _get(api, "双龙湖街道干部", "/api/v1/modes") == []


@pytest.mark.parametrize("action", ["ack", "cancel"])
async def test_an_overlong_name_for_the_timeline_is_refused_on_every_register(
    tmp_path: Path, register_url: str, action: str
) -> None:
    # The acceptor's name is kept in a 64-character column: PostgreSQL refuses more, and that was a 500.
    async for api in make_api(tmp_path, url=register_url):
        alert = api.alert_ids["H001/sos"]
        with api.sessions.begin() as session:  # escalating, as every elder alert is
            session.add(Escalation(alert_id=alert, policy="default", status="waiting", updated_at=NOW))
        body = await _post(api, "李娜", f"/api/v1/alerts/{alert}/{action}", {"by": "李" * 65}, 400)
        assert "64" in body["error"]
        timeline = await _get(api, "李娜", f"/api/v1/alerts/{alert}/timeline")
        assert timeline["alert"]["state"] == "open" and timeline["events"] == []
        done = await _post(api, "李娜", f"/api/v1/alerts/{alert}/{action}", {"by": "李" * 64})
        assert done["state"] == ("acknowledged" if action == "ack" else "cancelled")
