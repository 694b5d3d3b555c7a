"""Visit rate across month boundaries and tiers, tasks and reminders, alert → task → visit → resolved."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts.tables import OutboxMessage
from hub.care.errors import CareError
from hub.care.plans import (
    list_tasks,
    plan_reviews,
    plan_visit_tasks,
    remind_overdue,
    review_elder,
    run_planner,
)
from hub.care.reports import visit_rate
from hub.care.settings import CareConfig, SpecialPeriod
from hub.care.tables import CareTask, CareTaskEvent
from hub.care.visits import add_service, record_visit, visit_input
from hub.register.models import Alert, AlertEvent
from hub.rules.calendar import add_mode
from tests.care.conftest import add_elder, open_alert, utc

TZ = ZoneInfo("Asia/Shanghai")
CONFIG = CareConfig()


def visit(session: Session, elder, at, method: str = "上门探访", task_id: int | None = None, **extra):  # type: ignore[no-untyped-def]
    data = visit_input({"visited_at": at, "method": method, "visitor_name": "王探访", **extra})
    return record_visit(session, elder, data, now=at, task_id=task_id)


def test_visit_rate_counts_home_visits_in_local_months_by_tier(session: Session) -> None:
    key_both = add_elder(session, "K1", tier="key", visitors=("王探访",))
    key_first_half = add_elder(session, "K2", tier="key", visitors=("王探访",))
    general_late_night = add_elder(session, "G1", community="双湖社区", visitors=("刘探访",))
    general_phone_only = add_elder(
        session, "G2", street="龙溪街道", community="松牌路社区", visitors=("刘探访",)
    )
    general_next_month = add_elder(
        session, "G3", street="龙溪街道", community="松牌路社区", visitors=("刘探访",)
    )
    visit(session, key_both, utc(2026, 11, 3, 2))
    visit(session, key_both, utc(2026, 11, 20, 2))
    visit(session, key_first_half, utc(2026, 11, 10, 2))
    # 2026-11-30 23:30 in Chongqing is 15:30 UTC: November. 2026-11-30 16:30 UTC is December 1st there.
    visit(session, general_late_night, utc(2026, 11, 30, 15, 30))
    visit(session, general_next_month, utc(2026, 11, 30, 16, 30))
    visit(session, general_phone_only, utc(2026, 11, 12, 2), method="电话问候")
    session.commit()

    nov = visit_rate(session, "2026-11", TZ)
    assert (nov.total.enrolled, nov.total.visited, nov.total.met) == (5, 3, 2)
    assert {e["code"] for e in nov.not_visited} == {"G2", "G3"}
    assert [e["code"] for e in nov.short] == ["K2"]  # visited, but nobody came in the second half month
    assert nov.by_street["龙溪街道"].to_dict()["rate"] == 0.0
    assert (nov.by_street["双凤桥街道"].enrolled, nov.by_street["双凤桥街道"].met) == (3, 2)
    assert nov.by_community[("双凤桥街道", "双湖社区")].met == 1
    assert (nov.by_visitor["王探访"].met, nov.by_visitor["刘探访"].met) == (1, 1)
    dec = visit_rate(session, "2026-12", TZ)
    assert [e["code"] for e in dec.not_visited] == ["K1", "K2", "G1", "G2"] or {
        e["code"] for e in dec.not_visited
    } == {
        "K1",
        "K2",
        "G1",
        "G2",
    }
    assert dec.total.met == 1
    with pytest.raises(CareError, match="2026-11"):
        visit_rate(session, "2026/11", TZ)


def test_tasks_follow_tier_periods_and_a_home_visit_closes_them(session: Session) -> None:
    key = add_elder(session, "K1", tier="key")
    general = add_elder(session, "G1")
    now = utc(2026, 11, 17, 1)  # local 11-17 09:00: second half of November
    made = {t.elder.code: t for t in plan_visit_tasks(session, now, CONFIG, TZ)}
    assert made["K1"].due_at == utc(2026, 11, 30, 16)  # local midnight of December 1st
    assert made["K1"].period_start == utc(2026, 11, 15, 16)  # local November 16th
    assert made["G1"].period_start == utc(2026, 10, 31, 16)
    assert plan_visit_tasks(session, now, CONFIG, TZ) == []  # one task per period
    visit(session, key, utc(2026, 11, 18, 2))
    visit(session, general, utc(2026, 11, 18, 3), method="电话问候")  # a phone call does not count
    states = {t.elder.code: t.state for t in session.scalars(select(CareTask))}
    assert states == {"K1": "done", "G1": "open"}
    # In a special period (festival, extreme heat) the month is cut finer: a general elder gets half months.
    hot = CareConfig(
        special_periods=[
            SpecialPeriod(name="高温", start=utc(2026, 12, 1).date(), end=utc(2026, 12, 31).date())
        ]
    )
    dec = {t.elder.code: t for t in plan_visit_tasks(session, utc(2026, 12, 2, 1), hot, TZ)}
    assert dec["G1"].due_at == utc(2026, 12, 15, 16) and dec["K1"].due_at == utc(
        2026, 12, 7, 16
    )  # days 1–7 of 4 periods


def test_overdue_task_reminds_visitor_then_responsible_once(session: Session) -> None:
    add_elder(session, "G1")
    plan_visit_tasks(session, utc(2026, 11, 5), CONFIG, TZ)
    due = utc(2026, 11, 30, 16)
    assert remind_overdue(session, due - timedelta(minutes=1), CONFIG, TZ) == []
    first = remind_overdue(session, due + timedelta(hours=1), CONFIG, TZ)
    assert [(e.event, e.recipient) for e in first] == [("reminded_visitor", "王探访")]
    assert remind_overdue(session, due + timedelta(hours=2), CONFIG, TZ) == []
    later = remind_overdue(session, due + timedelta(hours=49), CONFIG, TZ)
    assert [(e.event, e.recipient) for e in later] == [("reminded_responsible", "李主任")]
    assert remind_overdue(session, due + timedelta(hours=90), CONFIG, TZ) == []
    session.commit()
    sms = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(m.name, m.address) for m in sms] == [("王探访", "13900000000"), ("李主任", "13700000000")]
    overdue = list_tasks(session, now=due + timedelta(hours=90), visitor="王探访", overdue_only=True)
    assert len(overdue) == 1 and overdue[0]["reminders"] == 2


def test_alert_task_visit_resolves_alert_and_counts_toward_quota(session: Session) -> None:
    elder = add_elder(session, "G1")
    opened = utc(2026, 11, 10, 1)
    alert = open_alert(session, elder, opened)
    run = run_planner(session, opened + timedelta(minutes=5), CONFIG, TZ)
    assert run.alert_tasks == 1
    task = session.scalars(select(CareTask).where(CareTask.kind == "alert")).one()
    assert (task.alert_id, task.assignee, task.due_at) == (alert.id, "王探访", opened + timedelta(hours=24))
    assert run_planner(session, opened + timedelta(minutes=10), CONFIG, TZ).alert_tasks == 0

    v = visit(
        session, elder, opened + timedelta(hours=2), task_id=task.id, needs="需要助餐服务", problems_solved=1
    )
    add_service(
        session,
        elder,
        served_on=utc(2026, 11, 10).date(),
        description="送餐上门",
        worker_signature="社工小周",
        satisfaction="满意",
        visit=v,
    )
    session.commit()
    session.refresh(alert)
    assert alert.state == "resolved" and alert.active_key is None
    assert v.alert_id == alert.id
    events = session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert.id)).all()
    assert any(e.event == "resolved" and "王探访" in e.detail for e in events)
    tasks = {t.kind: t.state for t in session.scalars(select(CareTask))}
    # The same home visit settles the month's visit too; a never-reviewed record keeps its review task.
    assert tasks == {"alert": "done", "visit": "done", "review": "open"}
    nov = visit_rate(session, "2026-11", TZ)
    assert nov.total.met == 1 and nov.not_visited == []
    assert session.scalars(select(CareTaskEvent).where(CareTaskEvent.event == "done")).all()


def test_alert_closed_elsewhere_cancels_its_task_and_device_alerts_make_none(session: Session) -> None:
    elder = add_elder(session, "G1")
    alert = open_alert(session, elder, utc(2026, 11, 10, 1))
    device_alert = open_alert(session, elder, utc(2026, 11, 10, 1), kind="offline")
    device_alert.alert_class = "device"
    run_planner(session, utc(2026, 11, 10, 2), CONFIG, TZ)
    alert.state, alert.active_key = "cancelled", None
    session.flush()
    run_planner(session, utc(2026, 11, 10, 3), CONFIG, TZ)
    tasks = session.scalars(select(CareTask).where(CareTask.kind == "alert")).all()
    assert [(t.alert_id, t.state) for t in tasks] == [(alert.id, "cancelled")]
    assert session.get(Alert, device_alert.id) is not None


def test_records_not_reviewed_for_six_months_become_review_tasks(session: Session) -> None:
    fresh = add_elder(session, "G1", filed_on=utc(2026, 9, 1).date())
    old = add_elder(session, "G2", filed_on=utc(2026, 3, 1).date())
    made = plan_reviews(session, utc(2026, 11, 20), CONFIG)
    assert [t.elder.code for t in made] == ["G2"]
    assert review_elder(session, old, by="李主任", now=utc(2026, 11, 21)) == 1
    assert plan_reviews(session, utc(2026, 12, 1), CONFIG) == []
    assert [t.elder.code for t in plan_reviews(session, utc(2027, 5, 22), CONFIG)] == ["G1", "G2"]
    assert fresh.reviewed_at is None


def test_visit_input_rejects_words_outside_the_form(session: Session) -> None:
    with pytest.raises(CareError, match="探访方式") as caught:
        visit_input(
            {
                "visited_at": "2026-11-03T10:00+08:00",
                "method": "上门",
                "visitor_name": "王",
                "gas_safety": "好",
            }
        )
    assert "燃气安全" in str(caught.value)
    with pytest.raises(CareError, match="疾病名称"):
        visit_input(
            {
                "visited_at": "2026-11-03T10:00+08:00",
                "method": "上门探访",
                "visitor_name": "王",
                "illness": "严重",
            }
        )


def test_a_weather_mode_of_the_rules_raises_visits_on_its_street(session: Session) -> None:
    add_elder(session, "G1")  # 双凤桥街道
    add_elder(session, "G2", street="龙溪街道")
    add_mode(
        session,
        "weather",
        "street",
        "双凤桥街道",
        utc(2027, 1, 1),
        utc(2027, 1, 20),
        0.5,
        "寒潮",
        utc(2027, 1, 1),
    )
    made = {t.elder.code: t.due_at for t in plan_visit_tasks(session, utc(2027, 1, 3), CONFIG, TZ)}
    assert made == {"G1": utc(2027, 1, 15, 16), "G2": utc(2027, 1, 31, 16)}
