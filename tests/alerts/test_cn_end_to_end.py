"""End to end with the domestic providers: an SOS goes out through Aliyun and Tencent Cloud (local, signature-
checking endpoints), a permanent Aliyun failure falls back to Tencent, and the providers' callbacks (keypress,
delivery report) reach the running hub, which checks their token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from hub.alerts.tables import OutboxMessage
from hub.clock import FrozenClock
from hub.ingest.register_writer import RegisterWriter
from hub.models import AlertCandidate, Severity
from hub.register.models import AlertEvent
from tests.alerts.cn_fakes import (
    ALIYUN_SECRET,
    TENCENT_SECRET_KEY,
    FakeAliyun,
    FakeTencent,
    aliyun_section,
    tencent_section,
)
from tests.alerts.fakes import FakeTwilio
from tests.alerts.site import SON, VISITOR, make_alert_site
from tests.alerts.test_end_to_end import T0, HubUnderTest, until
from tests.services.mosquitto import Broker

TOKEN = "cb-token-0123456789"


@pytest.fixture
async def providers() -> AsyncIterator[tuple[FakeAliyun, FakeTencent]]:
    async with FakeAliyun() as aliyun, FakeTencent() as tencent:
        yield aliyun, tencent


@pytest.fixture
async def cn_hub(
    tmp_path: Path, quiet_mosquitto: Broker, providers: tuple[FakeAliyun, FakeTencent]
) -> AsyncIterator[HubUnderTest]:
    """The hub with Aliyun → Tencent as the district's chain (Twilio configured but not in any route)."""
    aliyun, tencent = providers
    make_alert_site(tmp_path)
    async with FakeTwilio() as twilio:
        h = HubUnderTest(tmp_path, quiet_mosquitto, twilio, FrozenClock(T0))
        h.alerts_extra = {
            "aliyun": aliyun_section(aliyun),
            "tencent": tencent_section(tencent),
            "routes": {
                "sms": ["aliyun_sms", "tencent_sms", "gsm_sms"],
                "voice": ["aliyun_voice", "tencent_voice"],
                "robot": [],
            },
        }
        h.env = {
            "HUB_ALIYUN_ACCESS_KEY_SECRET": ALIYUN_SECRET,
            "HUB_ALIYUN_CALLBACK_TOKEN": TOKEN,
            "HUB_TENCENT_SECRET_KEY": TENCENT_SECRET_KEY,
            "HUB_TENCENT_CALLBACK_TOKEN": TOKEN,
        }
        yield h
        await h.stop()


async def _sos(h: HubUnderTest) -> int:
    running = await h.start()
    writer = RegisterWriter(running.sessions, on_alert_changes=running.alerts.escalator.on_alert_changes)
    cand = AlertCandidate("H001", "sos", Severity.CRITICAL, h.clock.now(), "H001-sos", "按下紧急呼叫按钮")
    [change] = await asyncio.to_thread(writer.commit, [], [cand], {}, h.clock.now())
    running.alerts.worker.wake()
    return change.alert_id


def _rows(h: HubUnderTest, **where: Any) -> list[OutboxMessage]:
    assert h.running is not None
    with h.running.sessions() as session:
        query = select(OutboxMessage).filter_by(**where).order_by(OutboxMessage.id)
        return list(session.scalars(query))


async def _post(h: HubUnderTest, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(h.public_url + path, json=body) as resp:
        return (
            resp.status,
            await resp.json() if resp.content_type == "application/json" else await resp.text(),
        )


async def test_a_permanent_aliyun_failure_falls_back_to_tencent_and_the_aliyun_keypress_accepts(
    cn_hub: HubUnderTest, providers: tuple[FakeAliyun, FakeTencent]
) -> None:
    aliyun, tencent = providers
    aliyun.fail_code, aliyun.fail_action = "isv.SMS_TEMPLATE_ILLEGAL", "SendSms"  # SMS template not approved
    alert_id = await _sos(cn_hub)

    async def tencent_sms() -> list[dict[str, Any]]:
        return [s for s in tencent.actions("SendSms") if s["PhoneNumberSet"] == ["+86" + VISITOR]]

    [sent] = await until(tencent_sms, "the visitor's SMS through Tencent after Aliyun refused it")
    assert sent["TemplateParamSet"][0] == "张秀英" and sent["TemplateId"] == "1000"  # the "sos" template
    assert aliyun.actions("SendSms")  # Aliyun was tried first
    assert "fallback" in cn_hub.events(alert_id)

    async def visitor_call() -> list[dict[str, str]]:
        return [c for c in aliyun.actions("IvrCall") if c["CalledNumber"] == VISITOR]

    [call] = await until(visitor_call, "the interactive call to the visitor through Aliyun")
    assert call["StartCode"] == "TTS_sos"

    async def placed() -> bool:  # the report can only name a call the hub has recorded as placed
        return any(r.status == "sent" for r in _rows(cn_hub, id=int(call["OutId"])))

    await until(placed, "the call recorded as placed")
    report = [{"call_id": "x", "out_id": call["OutId"], "status_code": "200000", "dtmf": "1"}]
    forged, _ = await _post(cn_hub, "/api/v1/alerts/aliyun/voice-report?token=guess", report)
    assert forged == 403 and cn_hub.alert().state == "notifying"
    status, answer = await _post(cn_hub, f"/api/v1/alerts/aliyun/voice-report?token={TOKEN}", report)
    assert status == 200 and answer == {"code": 0, "msg": "成功"}
    assert cn_hub.alert().state == "acknowledged"


async def test_tencent_keypress_accepts_and_delivery_reports_are_recorded(
    cn_hub: HubUnderTest, providers: tuple[FakeAliyun, FakeTencent]
) -> None:
    aliyun, tencent = providers
    aliyun.fail_code = "isv.BUSINESS_LIMIT_CONTROL"  # throttled: retried, then the chain moves on
    cn_hub.alerts_extra["max_attempts"] = 1
    await _sos(cn_hub)

    async def visitor_call() -> list[dict[str, Any]]:
        return [c for c in tencent.actions("SendTtsVoice") if c["CalledNumber"] == "+86" + VISITOR]

    await until(visitor_call, "the voice message to the visitor through Tencent")

    async def sent_rows() -> list[OutboxMessage]:
        rows = _rows(cn_hub, sent_via="tencent_voice", address=VISITOR)
        sms = _rows(cn_hub, sent_via="tencent_sms", address=SON)
        return rows + sms if rows and sms and all(r.status == "sent" for r in rows + sms) else []

    call_row, son_sms = await until(sent_rows, "the call and the son's SMS recorded as sent")
    status, answer = await _post(
        cn_hub, f"/api/v1/alerts/tencent/sms-status?token={TOKEN}", [_sms_report(son_sms.provider_id)]
    )
    assert status == 200 and answer == {"result": 0, "errmsg": "OK"}
    assert _rows(cn_hub, id=son_sms.id)[0].provider_status == "DELIVERED"

    key = {"voicekey_callback": {"callid": call_row.provider_id, "keypress": "1", "mobile": VISITOR}}
    assert (await _post(cn_hub, "/api/v1/alerts/tencent/voice", key))[0] == 403  # no token
    status, _ = await _post(cn_hub, f"/api/v1/alerts/tencent/voice?token={TOKEN}", key)
    assert status == 200 and cn_hub.alert().state == "acknowledged"
    assert _rows(cn_hub, id=call_row.id)[0].provider_status == "按键1"


def _sms_report(sid: str, status: str = "SUCCESS") -> dict[str, str]:
    return {
        "user_receive_time": "2026-11-28 14:00:05",
        "nationcode": "86",
        "mobile": SON,
        "report_status": status,
        "errmsg": "DELIVRD",
        "description": "用户短信接收成功",
        "sid": sid,
    }


async def test_a_failed_aliyun_delivery_report_falls_back_to_tencent(
    cn_hub: HubUnderTest, providers: tuple[FakeAliyun, FakeTencent]
) -> None:
    _, tencent = providers
    alert_id = await _sos(cn_hub)

    async def son_sms() -> list[OutboxMessage]:
        return [r for r in _rows(cn_hub, address=SON, route="sms") if r.status == "sent"]

    [row] = await until(son_sms, "the son's SMS sent through Aliyun")
    assert row.sent_via == "aliyun_sms"
    report = {
        "phone_number": SON,
        "send_time": "2026-11-28 14:00:01",
        "report_time": "2026-11-28 14:00:09",
        "success": False,
        "err_code": "MK:0001",
        "err_msg": "用户无法接收",
        "sms_size": "1",
        "biz_id": row.provider_id,
        "out_id": str(row.id),
    }
    status, _ = await _post(cn_hub, f"/api/v1/alerts/aliyun/sms-report?token={TOKEN}", [report])
    assert status == 200

    async def resent() -> list[dict[str, Any]]:
        return [s for s in tencent.actions("SendSms") if s["PhoneNumberSet"] == ["+86" + SON]]

    await until(resent, "the son's SMS again, through Tencent")
    assert "fallback" in cn_hub.events(alert_id)
    # The row now belongs to Tencent; the timeline keeps why Aliyun's delivery failed.
    with cn_hub.running.sessions() as session:  # type: ignore[union-attr]
        details = session.scalars(
            select(AlertEvent.detail).where(AlertEvent.alert_id == alert_id, AlertEvent.event == "fallback")
        ).all()
    assert any("MK:0001" in d and "aliyun_sms" in d for d in details), details


async def test_an_unanswered_aliyun_call_is_tried_again_through_tencent(
    cn_hub: HubUnderTest, providers: tuple[FakeAliyun, FakeTencent]
) -> None:
    aliyun, tencent = providers
    await _sos(cn_hub)

    async def placed() -> list[OutboxMessage]:
        return [r for r in _rows(cn_hub, address=VISITOR, route="voice") if r.status == "sent"]

    [row] = await until(placed, "the call to the visitor placed through Aliyun")
    assert row.sent_via == "aliyun_voice" and aliyun.actions("IvrCall")
    record = {
        "call_id": row.provider_id,
        "out_id": str(row.id),
        "start_time": "",
        "end_time": "",
        "duration": "0",
        "status_code": "200005",
        "status_msg": "被叫未接听",
    }
    status, _ = await _post(cn_hub, f"/api/v1/alerts/aliyun/voice-report?token={TOKEN}", [record])
    assert status == 200

    async def called_again() -> list[dict[str, Any]]:
        return [c for c in tencent.actions("SendTtsVoice") if c["CalledNumber"] == "+86" + VISITOR]

    await until(called_again, "the visitor called again through Tencent")
    assert cn_hub.alert().state == "notifying"
