"""The safety net never goes quiet: an exhausted chain rings the duty line, every press notifies again, and
"nobody to notify" is a configuration error found at start-up (issue 10, item 2)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy import select, update

from hub.alerts.coverage import coverage_gaps
from hub.alerts.escalation import Escalator
from hub.alerts.replies import handle_reply
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertsConfig
from hub.alerts.tables import Escalation
from hub.clock import FrozenClock
from hub.ingest.register_writer import RegisterWriter
from hub.models import AlertCandidate, Severity
from hub.register.db import alembic_config
from hub.register.models import Alert
from hub.web.alert_views import scoped_alerts
from hub.web.scope import Scope
from tests.alerts.site import ALERT_SITE, DAUGHTER, RESPONSIBLE, SON, VISITOR
from tests.alerts.world import T0, World
from tests.site_fixture import make_site

DUTY = "02367000000"
WITH_DUTY = {"district_duty": [{"name": "区值班", "phone": DUTY}]}
EVERYONE = Scope(None, None)


def run_out(w: World, alert_id: int) -> None:
    """Let every step of every round pass unanswered, a minute at a time, until the chain is exhausted."""
    for _ in range(200):
        if "exhausted" in w.events(alert_id):
            return
        w.clock.advance(timedelta(minutes=1))
        w.fire()
    raise AssertionError(f"the chain never ran out: {w.events(alert_id)}")


def press(w: World) -> None:
    """The elder presses the SOS button again (a repeat of the active alert), and the worker looks."""
    w.raise_alert()


def texts(w: World, phone: str, needle: str) -> list[str]:
    return [m.text for m in w.outbox(address=phone, route="sms") if needle in m.text]


def test_an_exhausted_chain_rings_the_district_duty_until_someone_accepts(
    tmp_path: Path, register_url: str
) -> None:
    w = World(tmp_path, register_url, **WITH_DUTY)
    alert_id = w.raise_alert()
    run_out(w, alert_id)
    assert "no_recipients" not in w.events(alert_id)  # people were there; nobody accepted
    [notice] = texts(w, DUTY, "无人接单")
    assert "联系家属" in notice and "120" in notice and "跟进" in notice and f"A{alert_id}" in notice
    assert {m.route for m in w.outbox(address=DUTY) if "无人接单" in m.text} == {"sms", "voice"}
    with w.sessions() as s:
        [row] = scoped_alerts(s, EVERYONE)
    assert row["exhausted"] is True and row["escalation_note"] == "无人接单·已升级区值班"
    # The cadence is a persisted timer: a restarted hub (a new escalator) keeps ringing every 5 minutes.
    w.escalator = Escalator(w.config, w.clock)
    w.clock.advance(timedelta(minutes=4, seconds=59))
    w.fire()
    assert len(texts(w, DUTY, "无人接单")) == 1
    w.clock.advance(timedelta(seconds=1))
    w.fire()
    assert len(texts(w, DUTY, "无人接单")) == 2
    assert w.events(alert_id)[-1] == "duty_rung"
    # The duty officer accepts: the ringing stops and the board no longer says nobody took it.
    with w.sessions.begin() as s:
        handle_reply(s, DUTY, f"1 A{alert_id}", via="短信", at=w.clock.now())
    w.clock.advance(timedelta(minutes=15))
    w.fire()
    assert len(texts(w, DUTY, "无人接单")) == 2
    with w.sessions() as s:
        [row] = scoped_alerts(s, EVERYONE)
    assert row["exhausted"] is False and row["accepted_by"] == "区值班"


def test_the_duty_cadence_is_configurable_and_checked(tmp_path: Path) -> None:
    w = World(tmp_path, exhausted_repeat_s={"critical": 120}, **WITH_DUTY)
    alert_id = w.raise_alert()
    run_out(w, alert_id)
    w.clock.advance(timedelta(minutes=2))
    w.fire()
    assert len(texts(w, DUTY, "无人接单")) == 2
    with pytest.raises(ValidationError, match="critcal"):
        AlertsConfig.model_validate({"exhausted_repeat_s": {"critcal": 60}})


def test_every_new_press_notifies_again_whatever_the_state(tmp_path: Path, register_url: str) -> None:
    w = World(tmp_path, register_url, **WITH_DUTY)
    alert_id = w.raise_alert()
    w.clock.advance(timedelta(minutes=2))
    press(w)  # still at the first step: the visitor and the family hear of it again, by SMS and call
    again = {(m.address, m.route) for m in w.outbox(purpose="act") if "第2次" in m.text}
    assert again == {(p, r) for p in (VISITOR, SON, DAUGHTER) for r in ("sms", "voice")}
    assert w.events(alert_id)[-1] == "pressed"
    # A press 10 s later is told together with any others at the end of the merge minute, not dropped.
    w.clock.advance(timedelta(seconds=10))
    press(w)
    assert not texts(w, VISITOR, "第3次")
    w.clock.advance(timedelta(seconds=50))
    w.fire()
    assert texts(w, VISITOR, "第3次")
    # The escalation moves on to the responsible person; the visitor accepts by SMS.
    w.clock.advance(timedelta(minutes=2))
    w.fire()
    assert w.outbox(address=RESPONSIBLE)
    with w.sessions.begin() as s:
        assert handle_reply(s, VISITOR, f"1 A{alert_id}", via="短信", at=w.clock.now()).alert_id == alert_id
    w.clock.advance(timedelta(minutes=7))
    press(w)  # acknowledged: the current step's people and the responder are told, with who is on it
    [to_responder] = texts(w, VISITOR, "第4次")
    assert "已由李娜接单" in to_responder
    assert texts(w, RESPONSIBLE, "第4次")
    assert not texts(w, SON, "第4次")  # the family's step is over; they are not woken for each press
    with w.sessions() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.state == "acknowledged" and alert.count == 4


def test_a_press_on_an_exhausted_alert_reaches_the_duty_line(tmp_path: Path) -> None:
    w = World(tmp_path, **WITH_DUTY)
    alert_id = w.raise_alert()
    run_out(w, alert_id)
    w.clock.advance(timedelta(seconds=30))
    press(w)
    [told] = texts(w, DUTY, "次按下")
    assert "仍无人接单" in told
    assert {m.route for m in w.outbox(address=DUTY) if "次按下" in m.text} == {"sms", "voice"}


NOBODY_SITE = (
    ALERT_SITE
    + """
  - code: H002
    address: 渝北区松牌社区1栋101
    district: 渝北区
    street: 龙溪街道
    community: 松牌社区
    elders:
      - {code: E002, name: 刘大爷, sex: 男, phone: "13800000002", tier: general, categories: [独居]}
"""
)


def test_a_home_nobody_can_be_told_about_is_a_configuration_error_at_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = make_site(tmp_path, None, NOBODY_SITE, "nobody.yaml")
    with sessions() as s:
        gaps = coverage_gaps(s, AlertsConfig())
        assert [(g.home, g.level) for g in gaps] == [(None, "error"), ("H002", "error")]
        assert "district_duty" in gaps[0].problem
        # With a duty line every home has someone; a home without its own people is still worth a word.
        assert [(g.home, g.level) for g in coverage_gaps(s, AlertsConfig.model_validate(WITH_DUTY))] == [
            ("H002", "warning")
        ]

    async def start() -> list[str]:
        async with AlertService(AlertsConfig(), sessions, FrozenClock(T0)) as service:
            return [g.problem for g in service.gaps]

    with caplog.at_level(logging.WARNING, logger="hub.alerts.service"):
        problems = asyncio.run(start())
    assert len(problems) == 2
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("配置错误" in m and "H002" in m for m in logged)
    assert any("配置错误" in m and "district_duty" in m for m in logged)


def test_an_alert_with_nobody_at_all_is_flagged_once_and_kept_trying(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.sessions = make_site(tmp_path / "nobody", None, NOBODY_SITE, "nobody.yaml")
    w.writer = RegisterWriter(w.sessions, on_alert_changes=w.escalator.on_alert_changes)
    cand = AlertCandidate("H002", "sos", Severity.CRITICAL, w.clock.now(), "H002-sos", "sos 报警")
    [change] = w.writer.commit([], [cand], {}, w.clock.now())
    w.fire()
    assert w.events(change.alert_id).count("no_recipients") == 1
    with w.sessions() as s:
        [row] = [a for a in scoped_alerts(s, EVERYONE) if a["id"] == change.alert_id]
        esc = s.scalar(select(Escalation).where(Escalation.alert_id == change.alert_id))
    assert row["exhausted"] is True and "配置错误" in row["escalation_note"]
    assert esc is not None and esc.due_at is not None  # retried on the cadence, not stopped
    w.clock.advance(timedelta(minutes=5))
    w.fire()
    assert w.events(change.alert_id).count("no_recipients") == 1  # said once, not every five minutes


def test_an_alert_an_older_hub_left_silent_rings_the_duty_line_after_the_upgrade(
    tmp_path: Path, register_url: str
) -> None:
    w = World(tmp_path, register_url, **WITH_DUTY)
    alert_id = w.raise_alert()
    with w.sessions.begin() as s:  # what the old code did when the chain ran out: stop, and stay active
        s.execute(
            update(Escalation)
            .where(Escalation.alert_id == alert_id)
            .values(status="stopped", due_at=None, round=2, step=3, updated_at=w.clock.now())
        )
    engine = w.sessions.kw["bind"]
    config = alembic_config()
    with engine.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
        command.upgrade(config, "head")
    w.fire()
    [notice] = texts(w, DUTY, "无人接单")
    assert f"A{alert_id}" in notice and w.events(alert_id)[-1] == "duty_rung"
