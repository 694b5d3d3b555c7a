"""Ask the elder first, end to end: the running hub calls the elder through a local Twilio, and Twilio's
signed webhooks (the Gather keypress, the call's status) decide whether the visitor is paged."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import aiohttp

from hub.alerts.tables import OutboxMessage
from hub.ingest.register_writer import RegisterWriter
from hub.models import AlertCandidate, Severity
from tests.alerts.fakes import ACCOUNT_SID, FROM_NUMBER, twilio_signature
from tests.alerts.site import VISITOR
from tests.alerts.test_end_to_end import HubUnderTest, _sms_to, hub, twilio, until

__all__ = ["hub", "twilio"]  # the fixtures, shared with the end-to-end tests

ELDER_E164 = "+8613800000001"


async def _checked_alert(h: HubUnderTest) -> tuple[int, int]:
    """Raise an inactivity alert that asks the elder first; (alert id, outbox id of the call to the elder)."""
    running = await h.start()
    writer = RegisterWriter(running.sessions, on_alert_changes=running.alerts.escalator.on_alert_changes)
    cand = AlertCandidate(
        "H001", "inactivity", Severity.URGENT, h.clock.now(), "H001-sos", "已 6 小时 无活动", check_first=True
    )
    [change] = await asyncio.to_thread(writer.commit, [], [cand], {}, h.clock.now())
    running.alerts.worker.wake()

    async def call() -> list[dict[str, str]]:
        return [c for c in h.twilio.calls() if c["To"] == ELDER_E164]

    [form] = await until(call, "the wellbeing call to the elder")
    assert "平安请按1" in form["Twiml"] and '<Say language="zh-CN">' in form["Twiml"]
    outbox = int(parse_qs(urlsplit(form["StatusCallback"]).query)["outbox"][0])

    async def recorded() -> bool:  # Twilio's callbacks come after its answer, so after the row is sent
        with running.sessions() as session:
            row = session.get(OutboxMessage, outbox)
            return row is not None and row.status == "sent"

    await until(recorded, "the call recorded as placed")
    return change.alert_id, outbox


async def _signed_post(h: HubUnderTest, path: str, form: dict[str, str]) -> tuple[int, str]:
    sig = twilio_signature(h.public_url + path, form)
    async with (
        aiohttp.ClientSession() as http,
        http.post(h.public_url + path, data=form, headers={"X-Twilio-Signature": sig}) as resp,
    ):
        return resp.status, await resp.text()


def _call_form(**extra: str) -> dict[str, str]:
    return {
        "CallSid": "CA" + uuid.uuid4().hex,
        "AccountSid": ACCOUNT_SID,
        "From": FROM_NUMBER,
        "To": ELDER_E164,
        **extra,
    }


async def test_pressing_1_on_the_call_resolves_and_nobody_is_paged(hub: HubUnderTest) -> None:
    alert_id, outbox = await _checked_alert(hub)
    status, twiml = await _signed_post(
        hub, f"/api/v1/alerts/twilio/voice?outbox={outbox}", _call_form(Digits="1")
    )
    assert status == 200 and "已记录您平安" in twiml
    assert hub.alert().state == "resolved"
    hub.clock.advance(timedelta(minutes=30))
    await asyncio.sleep(0.5)  # several worker polls (poll_s = 0.05): a due page would have gone out
    assert not _sms_to(hub.twilio, VISITOR)
    assert hub.events(alert_id)[:2] == ["opened", "elder_check"] and "resolved" in hub.events(alert_id)


async def test_a_busy_line_pages_the_visitor_at_once(hub: HubUnderTest) -> None:
    alert_id, outbox = await _checked_alert(hub)
    assert not _sms_to(hub.twilio, VISITOR)
    status, _ = await _signed_post(
        hub, f"/api/v1/alerts/twilio/status?outbox={outbox}", _call_form(CallStatus="busy")
    )
    assert status == 204

    async def visitor_sms() -> list[str]:
        return _sms_to(hub.twilio, VISITOR)

    await until(visitor_sms, "the visitor's SMS (the clock has not moved: the busy line paged)")
    assert "elder_check_failed" in hub.events(alert_id)
    assert hub.alert().state == "notifying"
