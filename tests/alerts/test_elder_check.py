"""Ask the elder first: a wellbeing call/SMS to the elder before the visitor is paged (frozen clock, real
register; the modem on a pseudo-terminal)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.alerts.escalation import Escalator
from hub.alerts.policy import first_step
from hub.alerts.replies import handle_reply
from hub.alerts.service import AlertService
from hub.models import AlertCandidate, Severity
from hub.register.models import Alert, AlertEvent, Elder
from tests.alerts.fake_modem import FakeModem
from tests.alerts.site import DAUGHTER, SON, VISITOR
from tests.alerts.world import World

ELDER = "13800000001"  # 张秀英's own phone in the alert site


def raise_checked(w: World, kind: str = "inactivity", *, check_first: bool = True) -> int:
    """An urgent elder alert whose rule allows asking the elder first."""
    cand = AlertCandidate(
        "H001",
        kind,
        Severity.URGENT,
        w.clock.now(),
        "H001-motion",
        "已 6 小时 无活动",
        check_first=check_first,
    )
    [change] = w.writer.commit([], [cand], {}, w.clock.now())
    w.fire()
    return change.alert_id


def details(w: World, alert_id: int) -> list[tuple[str, str]]:
    with w.sessions() as s:
        rows = s.execute(
            select(AlertEvent.event, AlertEvent.detail)
            .where(AlertEvent.alert_id == alert_id)
            .order_by(AlertEvent.id)
        ).all()
    return [(e, d) for e, d in rows]


def state(w: World, alert_id: int) -> str:
    with w.sessions() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        return alert.state


def reply(w: World, phone: str, body: str) -> str:
    with w.sessions.begin() as s:
        return handle_reply(s, phone, body, via="短信", at=w.clock.now()).answer


@pytest.mark.parametrize(
    ("check_first", "can_answer", "has_phone", "step"),
    [
        (True, True, True, "elder_check"),
        (True, False, True, "page"),
        (True, True, False, "page"),
        (False, True, True, "page"),
    ],
)
def test_first_step_asks_the_elder_only_when_the_rule_and_the_elder_allow(
    check_first: bool, can_answer: bool, has_phone: bool, step: str
) -> None:
    assert first_step(check_first, can_answer, has_phone) == step


def test_the_elder_is_asked_first_and_replying_1_resolves_without_paging_anyone(
    tmp_path: Path, register_url: str
) -> None:
    w = World(tmp_path, register_url)
    alert_id = raise_checked(w)
    [check] = w.outbox(purpose="check")
    assert (check.address, check.route) == (ELDER, "sms") and "如您平安请回复1" in check.text
    assert w.outbox(purpose="act") == [] and w.outbox(purpose="fyi") == []
    assert w.events(alert_id) == ["opened", "elder_check"]
    w.clock.advance(timedelta(minutes=3))
    assert "已记录您平安" in reply(w, "+86 138-0000-0001", "1")
    assert state(w, alert_id) == "resolved"
    assert ("resolved", "张秀英：老人自报平安（经短信）") in details(w, alert_id)
    w.clock.advance(timedelta(hours=2))
    w.fire()
    # Nobody was paged, and the relatives, never told of the alert, get no "it is handled" message either.
    assert w.outbox(purpose="act") == [] and w.outbox(purpose="fyi") == []


def test_no_answer_within_the_wait_pages_the_visitor(tmp_path: Path) -> None:
    w = World(tmp_path, elder_check_wait_s=600)
    alert_id = raise_checked(w)
    w.clock.advance(timedelta(minutes=9))
    w.fire()
    assert w.outbox(purpose="act") == []
    w.escalator = Escalator(w.config, w.clock)  # a restarted hub: the check's timer is a row
    w.clock.advance(timedelta(minutes=1))
    w.fire()
    assert [m.address for m in w.outbox(purpose="act")] == [VISITOR]
    assert {m.address for m in w.outbox(purpose="fyi")} == {SON, DAUGHTER}
    assert w.events(alert_id)[-2:] == ["elder_check_unanswered", "escalated"]
    # A late "1" from the elder no longer settles it (the visitor is on the way), but it is kept for them.
    assert "探访联系人已在联系您" in reply(w, ELDER, "1")
    assert state(w, alert_id) == "notifying"
    assert details(w, alert_id)[-1][0] == "elder_late_reply" and "“1”" in details(w, alert_id)[-1][1]


def test_any_other_answer_pages_the_visitor_at_once(tmp_path: Path) -> None:
    w = World(tmp_path)
    alert_id = raise_checked(w)
    assert "通知探访联系人" in reply(w, ELDER, "2")
    w.fire()  # the same instant: no waiting out the ten minutes
    assert [m.address for m in w.outbox(purpose="act")] == [VISITOR]
    assert "elder_check_failed" in w.events(alert_id)


def test_an_elder_who_cannot_answer_the_phone_is_skipped(tmp_path: Path) -> None:
    w = World(tmp_path)
    with w.sessions.begin() as s:
        s.scalars(select(Elder)).one().can_answer_phone = False
    alert_id = raise_checked(w)
    assert w.outbox(purpose="check") == []
    assert [m.address for m in w.outbox(purpose="act")] == [VISITOR]
    assert w.events(alert_id) == ["opened", "notifying"]


def test_immediate_alerts_never_ask_the_elder_first(tmp_path: Path) -> None:
    w = World(tmp_path)
    raise_checked(w, "leak", check_first=False)
    w.raise_alert("sos")
    assert w.outbox(purpose="check") == []


def test_the_site_file_marks_an_elder_unable_to_answer(tmp_path: Path) -> None:
    from tests.alerts.site import ALERT_SITE
    from tests.site_fixture import make_site

    sessions = make_site(
        tmp_path,
        None,
        ALERT_SITE.replace("tier: key", "tier: key\n        can_answer_phone: false"),
        "s.yaml",
    )
    with sessions() as s:
        assert s.scalars(select(Elder.can_answer_phone)).one() is False


async def test_the_modem_carries_the_check_and_the_elders_reply(tmp_path: Path) -> None:
    w = World(tmp_path)
    modem = FakeModem()
    try:
        config = w.config.model_copy(update={"gsm": w.config.gsm.model_copy(update={"url": modem.path})})
        async with AlertService(config, w.sessions, w.clock) as service:
            alert_id = raise_checked(w)
            await service.worker.run_once()
            assert {n for n, _ in modem.sent} == {ELDER}  # the check SMS (in parts)
            modem.deliver("+86" + ELDER, "1")
            for _ in range(500):
                if state(w, alert_id) == "resolved":
                    break
                await asyncio.sleep(0.02)
            assert state(w, alert_id) == "resolved"
            for _ in range(500):  # the answer to the elder is queued just after the resolve commits
                await service.worker.run_once()
                if any("已记录您平安" in text for _, text in modem.sent):
                    break
                await asyncio.sleep(0.02)
        # The elder got the thanks through the modem; the visitor got nothing.
        assert {n[-11:] for n, _ in modem.sent} == {ELDER}
        assert any("已记录您平安" in text for _, text in modem.sent)
    finally:
        modem.close()


async def test_a_check_that_reaches_no_one_pages_the_visitor_at_once(tmp_path: Path) -> None:
    w = World(tmp_path)
    async with AlertService(w.config, w.sessions, w.clock) as service:  # no SMS channel: only the log
        alert_id = raise_checked(w)
        await service.worker.run_once()  # the check reaches only the hub's log
        await service.worker.run_once()  # so the chain pages at once, the clock has not moved
    assert [m.address for m in w.outbox(purpose="act")] == [VISITOR]
    assert "elder_check_failed" in w.events(alert_id)
