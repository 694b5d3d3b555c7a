"""The board's data: an exhausted alert is flagged and listed first; holes in the safety net are shown;
the alert routes refuse over-long fields and mask phone numbers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from hub.alerts.tables import Escalation, OutboxMessage
from hub.register.models import Alert
from tests.web.conftest import NOW, Api


async def _get(api: Api, user: str, path: str) -> Any:
    async with api.client.get(path, headers=api.auth(user)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_an_exhausted_alert_comes_first_with_its_note_even_past_the_limit(api: Api) -> None:
    oldest = api.alert_ids["H002/offline"]  # opened two hours ago: last in the newest-first order
    with api.sessions.begin() as s:
        s.add(
            Escalation(
                alert_id=oldest,
                policy="device",
                status="exhausted",
                note="无人接单·已升级运维",
                responder="",
                updated_at=NOW,
                due_at=NOW + timedelta(minutes=5),
            )
        )
    alerts = await _get(api, "区管理员", "/api/v1/alerts")
    assert alerts[0]["id"] == oldest
    assert alerts[0]["exhausted"] is True and alerts[0]["escalation_note"] == "无人接单·已升级运维"
    assert [a["exhausted"] for a in alerts[1:]] == [False, False]
    [first] = await _get(api, "区管理员", "/api/v1/alerts?limit=1")
    assert first["id"] == oldest


async def test_an_active_alert_is_not_pushed_off_the_list_by_newer_closed_ones(api: Api) -> None:
    active = api.alert_ids["H001/sos"]
    with api.sessions.begin() as s:
        s.execute(
            update(Alert)
            .where(Alert.id != active)
            .values(state="resolved", active_key=None, opened_at=NOW, closed_at=NOW)
        )
    [first] = await _get(api, "区管理员", "/api/v1/alerts?limit=1")
    assert first["id"] == active and first["exhausted"] is False


async def test_coverage_shows_homes_nobody_can_be_told_about_within_the_jurisdiction(api: Api) -> None:
    # H002 has no contacts in the site, and this API runs without a district duty line.
    admin = await _get(api, "区管理员", "/api/v1/alerts/coverage")
    assert admin["errors"] == 2
    assert [(g["home"], g["level"]) for g in admin["gaps"]] == [(None, "error"), ("H002", "error")]
    street = await _get(api, "双龙湖街道干部", "/api/v1/alerts/coverage")  # H001 only: it has a visitor
    assert [g["home"] for g in street["gaps"]] == [None]
    community = await _get(api, "松牌社区干部", "/api/v1/alerts/coverage")
    assert [g["home"] for g in community["gaps"]] == [None, "H002"]


async def test_an_over_long_field_is_refused_naming_it_and_changes_nothing(api: Api) -> None:
    alert_id = api.alert_ids["H001/sos"]
    # `by` becomes the responder (64 characters in the register): PostgreSQL would refuse it with a 500.
    for action, body, field in (
        ("ack", {"by": "张" * 65}, "by"),
        ("resolve", {"outcome": "已上门", "notes": "x" * 2001}, "notes"),
        ("cancel", {"reason": "误按" * 300}, "reason"),
    ):
        path = f"/api/v1/alerts/{alert_id}/{action}"
        async with api.client.post(path, json=body, headers=api.auth("区管理员")) as resp:
            assert resp.status == 400
            assert field in await resp.text() and "过长" in await resp.text()
    with api.sessions() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.state == "open"


async def test_the_timeline_masks_the_phone_numbers_it_lists(api: Api) -> None:
    alert_id = api.alert_ids["H002/sos"]
    with api.sessions.begin() as s:
        for key, route, address, error in (
            ("a-sms", "sms", "13900000009", "twilio_sms: +8613900000009 is not a valid number"),
            ("a-robot", "robot", "group", ""),
        ):
            s.add(
                OutboxMessage(
                    alert_id=alert_id,
                    idempotency_key=key,
                    purpose="act",
                    role="relative",
                    name="王家属",
                    address=address,
                    route=route,
                    text="【居家监护】…",
                    status="sent",
                    next_attempt_at=NOW,
                    created_at=NOW,
                    last_error=error,
                )
            )
    timeline = await _get(api, "王家属", f"/api/v1/alerts/{alert_id}/timeline")
    sms, robot = timeline["notifications"]
    assert sms["address"] == "139****0009" and "13900000009" not in sms["error"]
    assert robot["address"] == "group"
