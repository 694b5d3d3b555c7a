"""Visit plans: periods per tier, due and overdue tasks per visitor, reminders, alert and review tasks.

Frequency (notice 一(四)): a 重点对象 needs at least one 上门探访 every half month, every other elder one a
month. In a special period (extreme weather, festivals; `CareConfig.special_periods`) the month is cut into
`factor` times as many periods. A period is a run of whole local days: with n periods in a month of D days,
period i starts on day 1 + ⌊i·D/n⌋ (n = 2: the 1st–15th and the 16th to the end).

Every function runs inside the caller's transaction; `run_planner` is what the hub's care loop calls.
"""

from __future__ import annotations

import calendar
import itertools
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from hub.alerts.model import ACTIVE_STATES
from hub.alerts.outbox import enqueue
from hub.care.errors import CareError
from hub.care.register import all_elders, responsible_of, visitors_of
from hub.care.settings import CareConfig
from hub.care.tables import CareTask, CareTaskEvent, Visit
from hub.care.vocab import HOME_VISIT, TASK_KINDS, TASK_STATES
from hub.register.models import Alert, Elder
from hub.rules.calendar import active_modes

# Task kinds whose lateness is chased by SMS; a review is paperwork, listed but not texted about.
REMINDED_KINDS = ("visit", "alert")


def base_periods(tier: str) -> int:
    """Periods per month that each need a home visit: 2 for 重点对象 (half months), 1 otherwise."""
    return 2 if tier == "key" else 1


def frequency_factor(config: CareConfig, day: date) -> int:
    """How much the configured special periods raise the visit frequency on a local day (1 outside them)."""
    return max((p.factor for p in config.special_periods if p.start <= day <= p.end), default=1)


def mode_multiplier(session: Session, street: str, at: datetime) -> int:
    """How much the rules' weather/festival modes (`hub.rules.calendar.active_modes`) raise visits on a street.

    A mode's factor (0, 1] shortens the alert windows; visits get 1/factor times as frequent, rounded up.
    """
    factors = [m.factor for m in active_modes(session, street, at)]
    return max((math.ceil(1 / f - 1e-9) for f in factors if f > 0), default=1)


def month_periods(year: int, month: int, n: int) -> list[tuple[date, date]]:
    """The n periods of a month as (first day, day after the last) pairs."""
    days = calendar.monthrange(year, month)[1]
    starts = [1 + (i * days) // n for i in range(n)] + [days + 1]
    first = date(year, month, 1)
    return [
        (first + timedelta(days=a - 1), first + timedelta(days=b - 1)) for a, b in itertools.pairwise(starts)
    ]


# The years a report or export may cover: the programme's records start in this century. Outside, dates
# overflow (0001-01 in UTC+8 is before year 1) and a typo would ask for an empty 9999 report.
YEARS = range(2000, 2101)


def check_year(year: int, text: str, what: str) -> int:
    """`year` if reports may cover it, else `CareError` naming `what` and the text given."""
    if year not in YEARS:
        raise CareError(f"{what}的年份须在 {YEARS.start}–{YEARS.stop - 1} 之间：{text!r}")
    return year


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight at the start of `day`, as aware UTC."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def period_of(at: datetime, n: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period (UTC start, UTC end) containing `at` when the month has n periods."""
    local = at.astimezone(tz).date()
    for start, end in month_periods(local.year, local.month, n):
        if start <= local < end:
            return local_midnight(start, tz), local_midnight(end, tz)
    raise AssertionError("a day always falls in one period of its month")


def _home_visited(session: Session, elder_id: int, start: datetime, end: datetime) -> bool:
    stmt = select(Visit.id).where(
        Visit.elder_id == elder_id,
        Visit.method == HOME_VISIT,
        Visit.visited_at >= start,
        Visit.visited_at < end,
    )
    return session.scalar(stmt.limit(1)) is not None


def _new_task(
    session: Session, elder: Elder, *, kind: str, key: str, due: datetime, now: datetime, **extra: Any
) -> CareTask | None:
    if session.scalar(select(CareTask.id).where(CareTask.dedup_key == key)) is not None:
        return None
    visitors = visitors_of(elder)
    responsible = responsible_of(elder)
    assignee = visitors[0] if visitors else (responsible.name if responsible else "")
    task = CareTask(
        elder_id=elder.id,
        kind=kind,
        dedup_key=key,
        assignee=assignee,
        due_at=due,
        created_at=now,
        reminders=0,
        **extra,
    )
    session.add(task)
    session.add(
        CareTaskEvent(task=task, at=now, event="created", recipient=assignee, detail=TASK_KINDS[kind])
    )
    session.flush()
    return task


def plan_visit_tasks(session: Session, now: datetime, config: CareConfig, tz: ZoneInfo) -> list[CareTask]:
    """Make the current period's visit task for every elder not yet visited at home in it."""
    made = []
    factor = frequency_factor(config, now.astimezone(tz).date())
    for elder in all_elders(session):
        n = base_periods(elder.tier) * max(factor, mode_multiplier(session, elder.home.street, now))
        start, end = period_of(now, n, tz)
        if _home_visited(session, elder.id, start, end):
            continue
        key = f"visit/{elder.code}/{start.astimezone(tz).date().isoformat()}/{n}"
        task = _new_task(session, elder, kind="visit", key=key, due=end, now=now, period_start=start)
        if task is not None:
            made.append(task)
    return made


def _needs_person(alert: Alert, config: CareConfig) -> bool:
    if alert.alert_class != "elder":
        return False
    return not config.alert_kinds or alert.kind in config.alert_kinds


def tasks_for_alerts(session: Session, now: datetime, config: CareConfig) -> list[CareTask]:
    """A visit task for each elder of every active alert that needs a person; close tasks of closed alerts."""
    made = []
    active = session.scalars(select(Alert).where(Alert.state.in_([s.value for s in ACTIVE_STATES]))).all()
    for alert in active:
        if not _needs_person(alert, config):
            continue
        elders = session.scalars(
            select(Elder).where(Elder.home_id == alert.home_id).options(selectinload(Elder.contacts))
        ).all()
        for elder in elders:
            key = f"alert/{alert.id}/{elder.code}"
            due = alert.opened_at + timedelta(hours=config.alert_task_due_h)
            task = _new_task(session, elder, kind="alert", key=key, due=due, now=now, alert_id=alert.id)
            if task is not None:
                made.append(task)
    stale = session.scalars(
        select(CareTask)
        .join(Alert, CareTask.alert_id == Alert.id)
        .where(CareTask.state == "open", Alert.state.not_in([s.value for s in ACTIVE_STATES]))
    ).all()
    for task in stale:
        task.state = "cancelled"
        task.closed_at = now
        session.add(CareTaskEvent(task=task, at=now, event="alert_closed", detail="告警已在别处处理完毕"))
    return made


def plan_reviews(session: Session, now: datetime, config: CareConfig) -> list[CareTask]:
    """A review task for each elder whose record was not reviewed (or filed) for `review_months` months."""
    made = []
    for elder in all_elders(session):
        last = elder.reviewed_at
        if last is None and elder.filed_on is not None:
            last = datetime.combine(elder.filed_on, time(), tzinfo=UTC)
        due = _add_months(last, config.review_months) if last is not None else now
        if due > now:
            continue
        stamp = last.date().isoformat() if last is not None else "never"
        task = _new_task(session, elder, kind="review", key=f"review/{elder.code}/{stamp}", due=due, now=now)
        if task is not None:
            made.append(task)
    return made


def _add_months(at: datetime, months: int) -> datetime:
    month0 = at.month - 1 + months
    year, month = at.year + month0 // 12, month0 % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def review_elder(session: Session, elder: Elder, *, by: str, now: datetime) -> int:
    """Mark the elder's record as reviewed now; close open review tasks (returns how many)."""
    elder.reviewed_at = now
    tasks = session.scalars(
        select(CareTask).where(
            CareTask.elder_id == elder.id, CareTask.kind == "review", CareTask.state == "open"
        )
    ).all()
    for task in tasks:
        task.state = "done"
        task.closed_at = now
        session.add(CareTaskEvent(task=task, at=now, event="done", recipient=by, detail="信息已复核"))
    return len(tasks)


def remind_overdue(session: Session, now: datetime, config: CareConfig, tz: ZoneInfo) -> list[CareTaskEvent]:
    """Remind the visitor of each overdue task, then (after `escalate_to_responsible_h`) the 责任人.

    Only visits are chased (`REMINDED_KINDS`); an overdue half-year review shows in the task lists instead.
    Each reminder is a task event and an SMS in the alerts outbox (sent by the alert worker); both are
    keyed by task and step, so running this again sends nothing twice.
    """
    events = []
    overdue = session.scalars(
        select(CareTask)
        .where(CareTask.state == "open", CareTask.due_at <= now, CareTask.kind.in_(REMINDED_KINDS))
        .options(selectinload(CareTask.elder).selectinload(Elder.contacts))
    ).all()
    for task in overdue:
        elder = task.elder
        due_local = task.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        text = f"【探访提醒】{elder.name}的{TASK_KINDS[task.kind]}任务已于 {due_local} 到期，请尽快上门探访并填写探访记录。"
        steps: list[tuple[int, str, str, str]] = []
        if task.reminders < 1:
            visitor = next(
                (c for c in elder.contacts if c.role == "visitor" and c.name == task.assignee), None
            )
            steps.append((1, "reminded_visitor", task.assignee, visitor.phone if visitor else ""))
        if task.reminders < 2 and now - task.due_at >= timedelta(hours=config.escalate_to_responsible_h):
            responsible = responsible_of(elder)
            if responsible is not None:
                steps.append((2, "reminded_responsible", responsible.name, responsible.phone))
        for level, event, name, phone in steps:
            task.reminders = level
            entry = CareTaskEvent(task=task, at=now, event=event, recipient=name, detail=text)
            session.add(entry)
            events.append(entry)
            if phone:
                enqueue(
                    session,
                    alert_id=task.alert_id,
                    key=f"care-task{task.id}-{event}",
                    purpose="care_reminder",
                    role="visitor" if level == 1 else "responsible",
                    name=name,
                    address=phone,
                    route="sms",
                    text=text,
                    at=now,
                    template="reminder",
                )
    session.flush()
    return events


@dataclass(frozen=True, slots=True)
class PlannerRun:
    """What one planner run made."""

    visit_tasks: int
    alert_tasks: int
    review_tasks: int
    reminders: int

    def summary(self) -> str:
        """Chinese one-liner."""
        return (
            f"新增定期探访任务 {self.visit_tasks}，告警探访任务 {self.alert_tasks}，"
            f"复核任务 {self.review_tasks}，发出提醒 {self.reminders}"
        )


def run_planner(session: Session, now: datetime, config: CareConfig, tz: ZoneInfo) -> PlannerRun:
    """Plan visits, alert tasks and reviews, then remind about overdue tasks."""
    visits = plan_visit_tasks(session, now, config, tz)
    alerts = tasks_for_alerts(session, now, config)
    reviews = plan_reviews(session, now, config)
    reminders = remind_overdue(session, now, config, tz)
    return PlannerRun(len(visits), len(alerts), len(reviews), len(reminders))


def list_tasks(
    session: Session,
    *,
    now: datetime,
    visitor: str | None = None,
    overdue_only: bool = False,
    state: str = "open",
) -> list[dict[str, Any]]:
    """Tasks (default: open), soonest due first, with `overdue` set; optionally of one visitor."""
    stmt = (
        select(CareTask)
        .options(selectinload(CareTask.elder).selectinload(Elder.home))
        .order_by(CareTask.due_at)
    )
    if state:
        stmt = stmt.where(CareTask.state == state)
    if visitor:
        stmt = stmt.where(CareTask.assignee == visitor)
    out = []
    for task in session.scalars(stmt):
        overdue = task.state == "open" and task.due_at <= now
        if overdue_only and not overdue:
            continue
        out.append(
            {
                "id": task.id,
                "kind": task.kind,
                "kind_zh": TASK_KINDS[task.kind],
                "elder": task.elder.code,
                "elder_name": task.elder.name,
                "street": task.elder.home.street,
                "community": task.elder.home.community,
                "assignee": task.assignee,
                "state": task.state,
                "state_zh": TASK_STATES[task.state],
                "due_at": task.due_at.isoformat(),
                "overdue": overdue,
                "alert_id": task.alert_id,
                "reminders": task.reminders,
            }
        )
    return out
