"""The alert timeline in words a duty officer reads: each notification says route, channel, recipient and
result; SMS and calls are told apart; the elder page names contact roles in Chinese."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from hub.alerts import lifecycle
from hub.alerts.outbox import SENT, enqueue
from hub.alerts.tables import OutboxMessage
from hub.alerts.wording import notified_detail
from tests.web.conftest import NOW, Api

ENGLISH_WORD = re.compile(
    r"\b(sms|voice|sent|failed|pending|act|fyi|visitor|responsible|log|web|notifying)\b"
)


async def _get(api: Api, user: str, path: str) -> Any:
    async with api.client.get(path, headers=api.auth(user)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def _queue(api: Api, alert_id: int) -> None:
    with api.sessions.begin() as session:
        for key, route, role, name in (
            ("s", "sms", "visitor", "李娜"),
            ("v", "voice", "responsible", "赵强"),
        ):
            enqueue(
                session,
                alert_id=alert_id,
                key=key,
                purpose="act",
                role=role,
                name=name,
                address="13900000001",
                route=route,
                text="【居家监护】张秀英紧急呼叫告警",
                at=NOW,
            )
        sms = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == "s"))
        voice = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == "v"))
        assert sms is not None and voice is not None
        sms.status, sms.sent_via, sms.sent_at, sms.provider_status = SENT, "gsm_sms", NOW, "delivered"
        voice.status, voice.sent_via, voice.sent_at, voice.provider_status = (
            "failed",
            "twilio_voice",
            NOW,
            "busy",
        )
        lifecycle.acknowledge(session, alert_id, by="李娜", via="网页", at=NOW + timedelta(minutes=1))


async def test_each_notification_line_says_route_channel_recipient_and_result_in_chinese(api: Api) -> None:
    alert_id = api.alert_ids["H001/sos"]
    _queue(api, alert_id)
    data = await _get(api, "区管理员", f"/api/v1/alerts/{alert_id}/timeline")
    sms, voice = data["notifications"]
    assert sms["summary"] == "短信·短信猫 → 李娜（探访人员），请处置：已发送·已送达"
    assert voice["summary"] == "语音电话·语音电话（Twilio） → 赵强（责任人），请处置：发送失败·占线"
    assert (sms["route_zh"], voice["route_zh"]) == ("短信", "语音电话")
    assert sms["at"] == NOW.isoformat()
    for line in (sms["summary"], voice["summary"], *(e["detail"] for e in data["events"])):
        assert not ENGLISH_WORD.search(line), line


def test_the_worker_records_a_sent_message_in_chinese() -> None:
    detail = notified_detail("李娜", "visitor", "sms", "log", "act")
    assert detail == "李娜（探访人员）：短信·平台日志（未送达任何人） 已发送（请处置）"
    # A channel the words do not know yet (a new provider) still reads as its route, never as its code.
    assert (
        notified_detail("赵强", "relative", "voice", "new_cloud_voice", "fyi")
        == "赵强（亲属）：语音电话·语音电话 已发送（告知）"
    )


async def test_an_acknowledgement_from_the_page_reads_as_web_page_in_chinese(api: Api) -> None:
    alert_id = api.alert_ids["H001/sos"]
    async with api.client.post(
        f"/api/v1/alerts/{alert_id}/ack", json={}, headers=api.auth("区管理员")
    ) as resp:
        assert resp.status == 200, await resp.text()
    data = await _get(api, "区管理员", f"/api/v1/alerts/{alert_id}/timeline")
    assert any(e["detail"] == "区管理员 经网页接单" for e in data["events"])


async def test_the_elder_page_names_contact_roles_in_chinese(api: Api) -> None:
    elder = await _get(api, "区管理员", "/api/v1/elders/E001")
    roles = {c["role"]: c["role_zh"] for c in elder["contacts"]}
    assert roles and all(not ENGLISH_WORD.search(word) for word in roles.values())
    assert roles.get("visitor") == "探访人员"


def test_provider_reports_read_in_chinese() -> None:
    from hub.alerts.wording import provider_word

    assert provider_word("DELIVERED") == "已送达"
    assert provider_word("FAIL 15") == "失败 15"
    assert provider_word("no-answer") == "无人接听"
    assert provider_word("按键1") == "按键1"
