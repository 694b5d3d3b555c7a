"""Lifecycle, escalation, replies and delivery on a real register (SQLite and PostgreSQL), clock frozen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.alerts import lifecycle
from hub.alerts.channels.log import LogNotifier
from hub.alerts.channels.twilio import TwilioChannels
from hub.alerts.errors import AlertError
from hub.alerts.recipients import on_shift
from hub.alerts.replies import handle_reply
from hub.alerts.settings import TwilioConfig
from hub.alerts.tables import Escalation, OnCallShift
from hub.alerts.wording import notified_detail
from hub.alerts.worker import AlertWorker
from hub.devices.registry import DeviceRegistry
from hub.models import AlertCandidate, Severity
from hub.register.models import Alert, AlertEvent
from hub.register.site import load_site
from tests.alerts.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from tests.alerts.site import ALERT_SITE, DAUGHTER, ONCALL, RESPONSIBLE, SON, VISITOR, make_alert_site
from tests.alerts.world import T0, World


def test_the_escalation_commits_with_the_alert_and_begins_on_the_next_worker_pass(
    tmp_path: Path, register_url: str
) -> None:
    w = World(tmp_path, register_url)
    cand = AlertCandidate("H001", "sos", Severity.CRITICAL, w.clock.now(), "H001-sos", "sos 报警")
    [change] = w.writer.commit([], [cand], {}, w.clock.now())
    with w.sessions() as s:  # durable together with the alert, due at once
        esc = s.scalars(select(Escalation).where(Escalation.alert_id == change.alert_id)).one()
        assert (esc.status, esc.due_at) == ("new", w.clock.now())
    assert w.outbox() == []
    w.fire()
    assert {m.address for m in w.outbox(purpose="act")} == {VISITOR, SON, DAUGHTER}


def test_alerts_opened_together_each_begin_with_their_own_messages_timeline_and_timer(
    tmp_path: Path, register_url: str
) -> None:
    # One worker pass begins several escalations and writes their changes in one flush: none may be lost or
    # given another's messages.
    w = World(tmp_path, register_url)
    sos = AlertCandidate("H001", "sos", Severity.CRITICAL, w.clock.now(), "H001-sos", "sos 报警")
    leak = AlertCandidate("H001", "leak", Severity.URGENT, w.clock.now(), "H001-leak", "漏水")
    changes = w.writer.commit([], [sos, leak], {}, w.clock.now())
    sos_id, leak_id = (c.alert_id for c in changes)
    w.fire()
    assert {(m.address, m.route) for m in w.outbox(alert_id=sos_id, purpose="act")} == {
        (p, r) for p in (VISITOR, SON, DAUGHTER) for r in ("sms", "voice")
    }
    assert [m.address for m in w.outbox(alert_id=leak_id, purpose="act")] == [VISITOR]
    assert {m.address for m in w.outbox(alert_id=leak_id, purpose="fyi")} == {SON, DAUGHTER}
    # What the messages say comes from the register: the elder's name and the home's address.
    acts = w.outbox(route="sms", purpose="act")
    assert {m.alert_id for m in acts} == {sos_id, leak_id}
    assert all("张秀英" in m.text and "紫薇社区3栋401" in m.text for m in acts)
    assert all("张秀英" in m.text for m in w.outbox(purpose="fyi"))
    for alert_id in (sos_id, leak_id):
        assert w.events(alert_id) == ["opened", "notifying"]
    with w.sessions() as s:
        states = {a.id: a.state for a in s.scalars(select(Alert))}
        timers = {e.alert_id: (e.status, e.due_at is not None) for e in s.scalars(select(Escalation))}
    assert states == {sos_id: "notifying", leak_id: "notifying"}
    assert timers == {sos_id: ("waiting", True), leak_id: ("waiting", True)}


# Two more homes for a claim that begins alerts of several homes: one with its own elder and visitor,
# one whose elder has nobody to call (its chain skips to the district duty line at once).
OTHER_VISITOR = "13900000011"
DUTY = "02367000000"
THREE_HOMES = (
    ALERT_SITE
    + f"""
  - code: H002
    address: 龙溪街道松牌路88号
    district: 渝北区
    street: 龙溪街道
    community: 松牌社区
    elders:
      - code: E002
        name: 王建国
        sex: 男
        phone: "13800000002"
        tier: key
        categories: [空巢]
        contacts:
          - {{name: 陈静, role: visitor, phone: "{OTHER_VISITOR}"}}
    devices:
      - {{code: H002-sos, ecosystem: zigbee2mqtt, external_id: h002_sos, model: TS0215A_sos}}
  - code: H003
    address: 回兴街道宝圣路6号
    district: 渝北区
    street: 回兴街道
    community: 宝圣社区
    elders:
      - code: E003
        name: 刘芳
        sex: 女
        tier: key
        categories: [独居]
    devices:
      - {{code: H003-sos, ecosystem: zigbee2mqtt, external_id: h003_sos, model: TS0215A_sos}}
"""
)


def test_alerts_of_several_homes_begun_in_one_pass_each_reach_their_own_homes_people(
    tmp_path: Path, register_url: str
) -> None:
    # The worker reads the homes and contacts of every alert it begins in one query each, and queues all
    # their messages at once: no alert may get another home's people, elder or address.
    w = World(tmp_path, register_url, district_duty=[{"name": "区值班", "phone": DUTY}])
    (tmp_path / "three.yaml").write_text(THREE_HOMES, encoding="utf-8")
    with w.sessions.begin() as session:
        load_site(session, tmp_path / "three.yaml", devices=DeviceRegistry.default())
    cands = [
        AlertCandidate(h, "sos", Severity.CRITICAL, w.clock.now(), f"{h}-sos", "sos 报警")
        for h in ("H001", "H002", "H003")
    ]
    first, second, lonely = (c.alert_id for c in w.writer.commit([], cands, {}, w.clock.now()))
    w.fire()
    assert {(m.address, m.route) for m in w.outbox(alert_id=first)} == {
        (p, r) for p in (VISITOR, SON, DAUGHTER) for r in ("sms", "voice")
    }
    assert {(m.address, m.route) for m in w.outbox(alert_id=second)} == {
        (OTHER_VISITOR, "sms"),
        (OTHER_VISITOR, "voice"),
    }
    assert {m.address for m in w.outbox(alert_id=lonely) if m.route != "robot"} == {DUTY}
    for alert_id, elder, address in (
        (first, "张秀英", "紫薇社区3栋401"),
        (second, "王建国", "松牌路88号"),
        (lonely, "刘芳", "宝圣路6号"),
    ):
        sms = [m.text for m in w.outbox(alert_id=alert_id, route="sms")]
        assert sms and all(elder in t and address in t for t in sms), sms
    assert w.events(first) == w.events(second) == ["opened", "notifying"]
    # Nobody of its own: every step before the district's is skipped at once, in the same pass.
    assert w.events(lonely) == ["opened", "step_skipped", "step_skipped", "step_skipped", "notifying"]


def test_critical_alert_asks_visitor_and_family_at_once(tmp_path: Path, register_url: str) -> None:
    w = World(tmp_path, register_url)
    alert_id = w.raise_alert()
    acts = {(m.address, m.route) for m in w.outbox(purpose="act")}
    assert acts == {(p, r) for p in (VISITOR, SON, DAUGHTER) for r in ("sms", "voice")}
    assert all("120" in m.text for m in w.outbox(purpose="act", route="sms"))
    assert not w.outbox(address=RESPONSIBLE)
    assert w.events(alert_id) == ["opened", "notifying"]


def test_urgent_alert_walks_the_chain_and_relatives_get_an_fyi(tmp_path: Path) -> None:
    w = World(tmp_path)
    alert_id = w.raise_alert("leak", Severity.URGENT)
    assert [m.address for m in w.outbox(purpose="act")] == [VISITOR]
    assert {m.address for m in w.outbox(purpose="fyi")} == {SON, DAUGHTER}
    assert all("120" not in m.text for m in w.outbox(purpose="act"))
    w.clock.advance(timedelta(minutes=4))
    w.fire()
    assert [m.address for m in w.outbox(purpose="act")] == [VISITOR]  # key tier waits 5 min
    w.clock.advance(timedelta(minutes=1))
    w.fire()
    assert [m.address for m in w.outbox(purpose="act")] == [VISITOR, SON, DAUGHTER]
    assert w.events(alert_id)[-1] == "escalated"


def test_street_rota_is_asked_only_within_its_window(tmp_path: Path) -> None:
    w = World(tmp_path)
    with w.sessions.begin() as s:
        s.add(
            OnCallShift(
                street="双龙湖街道", weekdays="6", start="08:00", end="20:00", name="赵值班", phone=ONCALL
            )
        )
    assert on_shift(
        OnCallShift(weekdays="5", start="22:00", end="06:00"), datetime(2026, 11, 28, 2, 0)
    )  # Sat 02:00
    assert not on_shift(OnCallShift(weekdays="6", start="22:00", end="06:00"), datetime(2026, 11, 28, 2, 0))
    alert_id = w.raise_alert("leak", Severity.URGENT)
    for _ in range(3):  # visitor → family → responsible → street
        w.clock.advance(timedelta(minutes=15))
        w.fire()
    assert ONCALL in {m.address for m in w.outbox(purpose="act")}  # Saturday 14:45 local is on shift
    assert "escalated" in w.events(alert_id)


def test_transitions_are_guarded_and_in_the_timeline(tmp_path: Path) -> None:
    w = World(tmp_path)
    alert_id = w.raise_alert()
    with w.sessions.begin() as s:
        lifecycle.acknowledge(s, alert_id, by="李娜", via="web", at=w.clock.now())
    with w.sessions.begin() as s, pytest.raises(AlertError, match=r"已由李娜接单.*already acknowledged"):
        lifecycle.acknowledge(s, alert_id, by="张伟", via="sms", at=w.clock.now())
    with w.sessions.begin() as s:
        lifecycle.resolve(s, alert_id, by="李娜", outcome="已上门，老人误按", notes="", at=w.clock.now())
    with w.sessions.begin() as s, pytest.raises(AlertError, match=r"不能变为.*cannot become cancelled"):
        lifecycle.cancel(s, alert_id, by="张秀英", reason="误按", at=w.clock.now())
    with w.sessions() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.state == "resolved" and alert.active_key is None
        esc = s.scalar(select(Escalation).where(Escalation.alert_id == alert_id))
        assert esc is not None and esc.status == "stopped" and esc.due_at is None
    assert w.events(alert_id) == ["opened", "notifying", "acknowledged", "resolved"]
    # Unsent asks were withdrawn on acceptance; relatives are told the outcome.
    assert not w.outbox(status="pending", purpose="act")
    resolved = [m for m in w.outbox(purpose="fyi") if "已处理" in m.text]
    assert {m.address for m in resolved} == {SON, DAUGHTER} and "误按" in resolved[0].text


def test_no_outcome_in_time_resumes_escalation(tmp_path: Path) -> None:
    w = World(tmp_path, outcome_wait_s=600)
    alert_id = w.raise_alert()
    with w.sessions.begin() as s:
        lifecycle.acknowledge(s, alert_id, by="李娜", via="sms", at=w.clock.now())
    w.clock.advance(timedelta(minutes=9))
    w.fire()
    assert not w.outbox(address=RESPONSIBLE)
    w.clock.advance(timedelta(minutes=1))
    w.fire()
    assert {m.route for m in w.outbox(address=RESPONSIBLE)} == {"sms", "voice"}
    assert w.events(alert_id)[-2:] == ["resumed", "escalated"]
    with w.sessions() as s:
        assert s.get(Alert, alert_id).state == "notifying"  # type: ignore[union-attr]


def test_replies_name_the_alert_when_there_are_several(tmp_path: Path) -> None:
    w = World(tmp_path)
    sos = w.raise_alert()
    leak = w.raise_alert("leak", Severity.URGENT)
    with w.sessions.begin() as s:
        ambiguous = handle_reply(s, "+86" + VISITOR, "1", via="短信", at=w.clock.now())
        unknown = handle_reply(s, VISITOR, "1 A999", via="短信", at=w.clock.now())
        stranger = handle_reply(s, "13700000000", "1", via="短信", at=w.clock.now())
        garbled = handle_reply(s, VISITOR, "好的", via="短信", at=w.clock.now())
    assert ambiguous.alert_id is None and f"A{sos}" in ambiguous.answer and f"A{leak}" in ambiguous.answer
    assert unknown.alert_id is None and "A999" in unknown.answer and "未生效" in unknown.answer
    assert stranger.alert_id is None and "没有找到" in stranger.answer
    assert garbled.alert_id is None and "未能识别" in garbled.answer
    with w.sessions() as s:
        assert {a.state for a in s.scalars(select(Alert))} == {"notifying"}  # nothing applied
    with w.sessions.begin() as s:
        named = handle_reply(s, VISITOR, f"1 A{leak}", via="短信", at=w.clock.now())
    assert named.alert_id == leak and "李娜" in named.answer
    with w.sessions() as s:
        assert s.get(Alert, leak).state == "acknowledged"  # type: ignore[union-attr]
        assert s.get(Alert, sos).state == "notifying"  # type: ignore[union-attr]


def test_device_alerts_go_to_maintenance_after_quiet_hours(tmp_path: Path) -> None:
    w = World(tmp_path, maintenance=[{"name": "运维小刘", "phone": "13600000000"}])
    w.clock.set(datetime(2026, 11, 28, 15, 0, tzinfo=UTC))  # 23:00 local: quiet
    w.raise_alert("battery", Severity.WARNING, "device")
    [msg] = w.outbox(purpose="act", route="sms")
    assert msg.address == "13600000000" and "设备维护" in msg.text
    assert msg.next_attempt_at == datetime(2026, 11, 28, 23, 0, tzinfo=UTC)  # 07:00 local
    assert not w.outbox(address=VISITOR)


# -- delivery ---------------------------------------------------------------------------------------


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


async def _worker(w: World, twilio: FakeTwilio) -> tuple[AlertWorker, TwilioChannels, LogNotifier]:
    cfg = TwilioConfig(
        account_sid=ACCOUNT_SID, from_number=FROM_NUMBER, api_base=twilio.url, auth_token=AUTH_TOKEN
    )
    channels = TwilioChannels(cfg, "")
    await channels.__aenter__()
    log = LogNotifier()
    worker = AlertWorker(w.sessions, w.escalator, {"twilio_sms": channels.sms, "log": log}, w.config, w.clock)
    return worker, channels, log


async def test_every_message_sent_is_recorded_on_its_row_and_on_the_alerts_timeline(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    w = World(tmp_path)
    alert_id = w.raise_alert("leak", Severity.URGENT)  # the visitor asked to act, the relatives told
    worker, channels, _ = await _worker(w, twilio)
    try:
        await worker.run_once()
    finally:
        await channels.__aexit__(None, None, None)
    rows = w.outbox(alert_id=alert_id)
    assert {(m.address, m.purpose) for m in rows} == {(VISITOR, "act"), (SON, "fyi"), (DAUGHTER, "fyi")}
    for m in rows:
        assert (m.status, m.sent_via, m.attempts, m.sent_at) == ("sent", "twilio_sms", 1, T0)
        assert m.provider_id.startswith("SM")  # Twilio's message SID, for its delivery reports
    assert len(twilio.sms()) == 3
    assert w.events(alert_id) == ["opened", "notifying", "notified", "notified", "notified"]
    with w.sessions() as s:
        details = s.scalars(
            select(AlertEvent.detail)
            .where(AlertEvent.alert_id == alert_id, AlertEvent.event == "notified")
            .order_by(AlertEvent.id)
        ).all()
    assert sorted(details) == sorted(
        notified_detail(m.name, m.role, "sms", "twilio_sms", m.purpose) for m in rows
    )
    assert worker.sent == 3 and worker.last_delivered_at == T0


async def test_retryable_errors_back_off_then_permanent_errors_fall_back(
    tmp_path: Path, twilio: FakeTwilio
) -> None:
    w = World(tmp_path, retry_base_s=10, max_attempts=3)
    w.raise_alert("leak", Severity.URGENT)
    worker, channels, log = await _worker(w, twilio)
    try:
        twilio.fail_with = (503, 20503)
        await worker.run_once()
        [row] = [m for m in w.outbox(address=VISITOR)]
        assert row.status == "pending" and row.attempts == 1
        assert row.next_attempt_at == T0 + timedelta(seconds=10)
        await worker.run_once()  # not due yet: nothing new is sent
        assert len([r for r in twilio.sms() if r["To"] == "+86" + VISITOR]) == 1
        w.clock.advance(timedelta(seconds=10))
        await worker.run_once()
        [row] = w.outbox(address=VISITOR)
        assert row.attempts == 2 and row.next_attempt_at == w.clock.now() + timedelta(seconds=20)
        twilio.fail_with = (400, 21211)  # invalid number: no point retrying
        w.clock.advance(timedelta(seconds=20))
        await worker.run_once()
        await worker.run_once()  # the fallback channel
        [row] = w.outbox(address=VISITOR)
        # Written to the hub's log, but no person was told: a failed delivery, never "sent".
        assert row.status == "failed" and row.sent_via == "log" and "21211" in row.last_error
        assert any(n.recipient == VISITOR for n in log.sent)
        events = w.events(row.alert_id or 0)
        assert "fallback" in events and "delivery_failed" in events
        assert worker.last_undelivered is not None and "所有渠道均失败" in worker.last_undelivered[1]
        assert worker.last_delivered_at is None  # what /healthz reads: notifications are not getting through
    finally:
        await channels.__aexit__(None, None, None)


async def test_rate_limit_delays_instead_of_dropping(tmp_path: Path, twilio: FakeTwilio) -> None:
    w = World(tmp_path, rate_limit_count=1, rate_limit_window_s=60)
    w.raise_alert("leak", Severity.URGENT)
    w.raise_alert("sos")
    worker, channels, _ = await _worker(w, twilio)
    try:
        await worker.run_once()
        visitor = [m for m in w.outbox(address=VISITOR, route="sms")]
        assert sorted(m.status for m in visitor) == ["pending", "sent"]
        w.clock.advance(timedelta(seconds=61))
        await worker.run_once()
        assert {m.status for m in w.outbox(address=VISITOR, route="sms")} == {"sent"}
        assert len([r for r in twilio.sms() if r["To"] == "+86" + VISITOR]) == 2
    finally:
        await channels.__aexit__(None, None, None)


def test_oncall_rota_from_the_command_line(tmp_path: Path) -> None:
    from hub.cli import main

    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n', encoding="utf-8")
    args = ["--config", str(config), "oncall", "add", "--street", "双龙湖街道", "--weekdays", "67"]
    assert main([*args, "--start", "20:00", "--end", "08:00", "--name", "赵值班", "--phone", ONCALL]) == 0
    with pytest.raises(SystemExit, match="--start: must be HH:MM"):
        main([*args, "--start", "8am", "--name", "钱值班", "--phone", ONCALL])
    sessions = make_alert_site(tmp_path)
    with sessions() as s:
        [shift] = s.scalars(select(OnCallShift)).all()
    assert (shift.street, shift.weekdays, shift.start, shift.end, shift.phone) == (
        "双龙湖街道",
        "67",
        "20:00",
        "08:00",
        ONCALL,
    )
