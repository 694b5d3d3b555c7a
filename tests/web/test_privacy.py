"""Personal data over every route that returns it, for every role: phones masked, nothing out of scope.

The routes are taken from the application itself, so a new GET route is covered (or this test asks for
the values of its path parameters) without anyone remembering to list it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from hub.alerts import lifecycle
from hub.alerts.outbox import enqueue
from hub.alerts.tables import Escalation, OutboxMessage
from hub.alerts.worker import fall_back
from hub.register.models import Contact, Elder
from hub.web.auth import is_public
from tests.web.conftest import NOW, USERS, Api

# E002's circle: a relative, a neighbour (emergency contact) and the 责任人, each with a phone.
CONTACTS = [
    ("王小明", "relative", "13700000002"),
    ("赵邻居", "emergency", "13600000002"),
    ("刘主任", "responsible", "13500000002"),
]
# Every phone of the register (elders, contacts) and a number that typed an SMS reply.
PHONES = ["13800000001", "13800000002", "13900000001", "13300000009"] + [p for _, _, p in CONTACTS]
ELDER_NAMES = {"E001": "张秀英", "E002": "王建国"}
ELDERS_SEEN = {
    "区管理员": {"E001", "E002"},
    "双龙湖街道干部": {"E001"},
    "松牌社区干部": {"E002"},
    "李娜": {"E001"},
    "王家属": {"E002"},
    "设备维护": set(),
}
# Routes that are the audited, admin-only disclosure itself (like POST …/reveal): spreadsheets for the
# programme's paper forms, full ID numbers only for care.id_viewers (tests/care covers their masking).
DISCLOSURES = {"/api/v1/exports/{what}"}
QUERIES = {"/api/v1/reports/visit-rate": "?month=2026-11", "/api/v1/reports/false-alarms": "?month=2026-11"}


def _escalate_h002_sos(api: Api) -> None:
    """What escalating H002's SOS leaves behind: messages to E002's circle, a failure, an SMS acceptance."""
    alert_id = api.alert_ids["H002/sos"]
    with api.sessions.begin() as session:
        elder = session.scalar(select(Elder).where(Elder.code == "E002"))
        assert elder is not None
        for name, role, phone in CONTACTS:
            session.add(Contact(elder_id=elder.id, name=name, role=role, phone=phone))
        for i, (name, role, phone) in enumerate([*CONTACTS, ("", "duty", "13300000009")]):
            enqueue(
                session,
                alert_id=alert_id,
                key=f"t{i}",
                purpose="act",
                role=role,
                name=name,
                address=phone,
                route="sms",
                text=f"【居家监护】王建国紧急呼叫告警，回复1 A{alert_id}接单",
                at=NOW,
            )
        unnamed = session.scalar(select(OutboxMessage).where(OutboxMessage.name == ""))
        assert unnamed is not None
        fall_back(session, unnamed, NOW, reason="twilio_sms: 'To' 13300000009 unreachable", chain=["sms"])
        session.add(
            Escalation(alert_id=alert_id, policy="default", status="waiting", updated_at=NOW, responder="")
        )
        session.flush()
        # An SMS "1" from a number that has no name in the register: the number is the responder.
        lifecycle.acknowledge(session, alert_id, by="13300000009", via="短信", at=NOW + timedelta(minutes=1))


def _paths(api: Api) -> list[str]:
    """Every GET path of the app with its parameters filled in (each alert, home and elder)."""
    values = {
        "/api/v1/alerts/{alert_id}": [str(i) for i in api.alert_ids.values()],
        "/api/v1/elders/{code}": ["E001", "E002"],
        "/api/v1/homes/{code}": ["H001", "H002"],
    }
    out = []
    for route in api.client.app.router.routes():
        info = route.get_info()
        path = info.get("path") or info.get("formatter") or ""
        path = path.replace("{what:ledger|register|visits|bundle}", "{what}")
        if route.method != "GET" or is_public(path) or path in DISCLOSURES:
            continue  # public routes (health, metrics, the page) carry nobody's data
        if "{" not in path:
            out.append(path + QUERIES.get(path, ""))
            continue
        prefix = next((p for p in values if path.startswith(p)), None)
        assert prefix is not None and path.count("{") == 1, f"{path}: give its parameters values here"
        param = prefix[prefix.index("{") :]
        out += [path.replace(param, value) for value in values[prefix]]
    return out


async def _body(api: Api, user: str, path: str) -> tuple[int, str]:
    async with api.client.get(path, headers=api.auth(user)) as resp:
        if resp.headers.get("Content-Type", "").startswith("text/event-stream"):
            # The board's stream never ends: its first event is the caller's list.
            first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)
            return resp.status, first.decode()
        return resp.status, await resp.text()


@pytest.mark.parametrize("user", list(USERS))
async def test_no_route_shows_a_full_phone_or_an_elder_out_of_scope(api: Api, user: str) -> None:
    _escalate_h002_sos(api)
    paths = _paths(api)
    assert any("/timeline" in p for p in paths) and "/api/v1/alerts/stream" in paths
    shown = 0
    for path in paths:
        status, body = await _body(api, user, path)
        assert status in (200, 403, 404), (user, path, status, body)
        leaked = [p for p in PHONES if p in body]
        assert not leaked, (user, path, leaked)
        hidden = [n for code, n in ELDER_NAMES.items() if code not in ELDERS_SEEN[user] and n in body]
        assert not hidden, (user, path, hidden)
        shown += status == 200
    assert shown >= 5  # every role reaches some of them


@pytest.mark.parametrize("user", ["区管理员", "松牌社区干部", "王家属"])
async def test_the_timeline_masks_phones_like_the_elder_page(api: Api, user: str) -> None:
    _escalate_h002_sos(api)
    alert_id = api.alert_ids["H002/sos"]
    async with api.client.get(f"/api/v1/alerts/{alert_id}/timeline", headers=api.auth(user)) as resp:
        assert resp.status == 200
        timeline = await resp.json()
    async with api.client.get("/api/v1/elders/E002", headers=api.auth(user)) as resp:
        page = {c["name"]: c["phone"] for c in (await resp.json())["contacts"]}
    sent = {n["name"]: n["address"] for n in timeline["notifications"] if n["name"]}
    assert sent == page == {"王小明": "137****0002", "赵邻居": "136****0002", "刘主任": "135****0002"}
    details = [e["detail"] for e in timeline["events"]]
    assert "133****0009 经短信接单" in details
    assert any(d.startswith("133****0009: 所有渠道均失败") for d in details)
    failed = next(n for n in timeline["notifications"] if not n["name"])
    assert failed["address"] == "133****0009" and "133****0009 unreachable" in failed["error"]
    async with api.client.get("/api/v1/alerts?active=1", headers=api.auth(user)) as resp:
        board = {a["id"]: a for a in await resp.json()}
    assert board[alert_id]["accepted_by"] == "133****0009"
