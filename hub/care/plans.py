"""Visit plans: periods per tier, due and overdue tasks per visitor, reminders, alert and review tasks.

Frequency (notice 一(四)): a 重点对象 needs at least one 上门探访 every half month, every other elder one a
month. In a special period (extreme weather, festivals; `CareConfig.special_periods`) the month is cut into
`factor` times as many periods. A period is a run of whole local days: with n periods in a month of D days,
period i starts on day 1 + ⌊i·D/n⌋ (n = 2: the 1st–15th and the 16th to the end).

Every function runs inside the caller's transaction; the hub's care loop runs `planner_steps` one transaction each.
"""

from __future__ import annotations

import calendar
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, selectinload

from hub.alerts.model import ACTIVE_STATES
from hub.alerts.outbox import enqueue
from hub.care.errors import CareError
from hub.care.register import responsible_of, visitors_of
from hub.care.settings import CareConfig
from hub.care.tables import CareTask, CareTaskEvent, Visit
from hub.care.vocab import HOME_VISIT, TASK_KINDS, TASK_STATES
from hub.register.models import Alert, Elder, Home
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


# Keys or ids per IN list (SQLite allows 32,766 bound parameters; stay far below).
_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class _TaskSpec:
    """A task a step wants to exist (made unless its dedup key already is)."""

    elder: Elder
    kind: str
    key: str
    due: datetime
    extra: dict[str, Any]


def _home_visited_elders(session: Session, start: datetime, end: datetime) -> dict[int, list[datetime]]:
    """Each elder's home visits between `start` and `end`: one query for every elder of the run."""
    stmt = select(Visit.elder_id, Visit.visited_at).where(
        Visit.method == HOME_VISIT, Visit.visited_at >= start, Visit.visited_at < end
    )
    out: dict[int, list[datetime]] = {}
    for elder_id, at in session.execute(stmt):
        out.setdefault(elder_id, []).append(at)
    return out


def _existing_keys(session: Session, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), _PER_QUERY):
        chunk = keys[i : i + _PER_QUERY]
        found.update(session.scalars(select(CareTask.dedup_key).where(CareTask.dedup_key.in_(chunk))))
    return found


def _new_tasks(session: Session, specs: list[_TaskSpec], now: datetime) -> list[CareTask]:
    """Make the tasks of `specs` whose dedup keys do not exist yet, in one flush at the end.

    A step reads everything it needs first and writes only here: SQLite has a single writer, and a
    step that wrote its first task and then went on scanning held the register's write lock for the
    whole scan (1–5 s for 400–2,000 elders), while an SOS's alert waited for it to commit.
    """
    wanted: dict[str, _TaskSpec] = {}
    for spec in specs:  # one task per key, the first spec's
        wanted.setdefault(spec.key, spec)
    existing = _existing_keys(session, list(wanted))
    specs = [spec for key, spec in wanted.items() if key not in existing]
    if not specs:
        return []
    # The assignees come from the contacts of just these elders (the scans did not load every elder's).
    _elders_with_contacts(session, Elder.id, {spec.elder.id for spec in specs})
    made = []
    for spec in specs:
        visitors = visitors_of(spec.elder)
        responsible = responsible_of(spec.elder)
        assignee = visitors[0] if visitors else (responsible.name if responsible else "")
        task = CareTask(
            elder_id=spec.elder.id,
            kind=spec.kind,
            dedup_key=spec.key,
            assignee=assignee,
            due_at=spec.due,
            created_at=now,
            reminders=0,
            **spec.extra,
        )
        session.add(task)
        session.add(
            CareTaskEvent(
                task=task, at=now, event="created", recipient=assignee, detail=TASK_KINDS[spec.kind]
            )
        )
        made.append(task)
    session.flush()
    return made


def _elders_with_contacts(session: Session, column: Any, values: set[int]) -> list[Elder]:
    """The elders whose `column` (Elder.id or Elder.home_id) is among `values`, contacts loaded, by id."""
    ordered = sorted(values)
    out: list[Elder] = []
    for i in range(0, len(ordered), _PER_QUERY):
        stmt = (
            select(Elder).where(column.in_(ordered[i : i + _PER_QUERY])).options(selectinload(Elder.contacts))
        )
        out += session.scalars(stmt)
    return sorted(out, key=lambda e: e.id)


def _elders_to_plan(session: Session, *, homes: bool) -> list[Elder]:
    """Every elder (with the home when `homes`), in the register's order; no contacts (see `_new_tasks`)."""
    stmt = select(Elder).join(Home).order_by(Home.street, Home.community, Elder.code)
    if homes:
        stmt = stmt.options(contains_eager(Elder.home))
    return list(session.scalars(stmt))


def plan_visit_tasks(session: Session, now: datetime, config: CareConfig, tz: ZoneInfo) -> list[CareTask]:
    """Make the current period's visit task for every elder not yet visited at home in it."""
    factor = frequency_factor(config, now.astimezone(tz).date())
    elders = _elders_to_plan(session, homes=True)
    multipliers = {
        street: mode_multiplier(session, street, now) for street in {e.home.street for e in elders}
    }
    periods = []
    for elder in elders:
        n = base_periods(elder.tier) * max(factor, multipliers[elder.home.street])
        periods.append((elder, n, *period_of(now, n, tz)))
    # Every elder's period contains `now`, so the visits that count lie within the widest of them.
    visited = (
        _home_visited_elders(session, min(p[2] for p in periods), max(p[3] for p in periods))
        if periods
        else {}
    )
    specs = []
    for elder, n, start, end in periods:
        if any(start <= at < end for at in visited.get(elder.id, ())):
            continue
        key = f"visit/{elder.code}/{start.astimezone(tz).date().isoformat()}/{n}"
        specs.append(_TaskSpec(elder, "visit", key, end, {"period_start": start}))
    return _new_tasks(session, specs, now)


def _needs_person(alert: Alert, config: CareConfig) -> bool:
    if alert.alert_class != "elder":
        return False
    return not config.alert_kinds or alert.kind in config.alert_kinds


def tasks_for_alerts(session: Session, now: datetime, config: CareConfig) -> list[CareTask]:
    """A visit task for each elder of every active alert that needs a person; close tasks of closed alerts."""
    active = [
        alert
        for alert in session.scalars(select(Alert).where(Alert.state.in_([s.value for s in ACTIVE_STATES])))
        if _needs_person(alert, config)
    ]
    elders_of: dict[int, list[Elder]] = {}
    for elder in _elders_with_contacts(session, Elder.home_id, {alert.home_id for alert in active}):
        elders_of.setdefault(elder.home_id, []).append(elder)
    specs = [
        _TaskSpec(
            elder,
            "alert",
            f"alert/{alert.id}/{elder.code}",
            alert.opened_at + timedelta(hours=config.alert_task_due_h),
            {"alert_id": alert.id},
        )
        for alert in active
        for elder in elders_of.get(alert.home_id, ())
    ]
    stale = session.scalars(
        select(CareTask)
        .join(Alert, CareTask.alert_id == Alert.id)
        .where(CareTask.state == "open", Alert.state.not_in([s.value for s in ACTIVE_STATES]))
    ).all()
    made = _new_tasks(session, specs, now)
    for task in stale:
        task.state = "cancelled"
        task.closed_at = now
        session.add(CareTaskEvent(task=task, at=now, event="alert_closed", detail="告警已在别处处理完毕"))
    return made


def plan_reviews(session: Session, now: datetime, config: CareConfig) -> list[CareTask]:
    """A review task for each elder whose record was not reviewed (or filed) for `review_months` months."""
    specs = []
    for elder in _elders_to_plan(session, homes=False):
        last = elder.reviewed_at
        if last is None and elder.filed_on is not None:
            last = datetime.combine(elder.filed_on, time(), tzinfo=UTC)
        due = _add_months(last, config.review_months) if last is not None else now
        if due > now:
            continue
        stamp = last.date().isoformat() if last is not None else "never"
        specs.append(_TaskSpec(elder, "review", f"review/{elder.code}/{stamp}", due, {}))
    return _new_tasks(session, specs, now)


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


PlannerStep = Callable[[Session], Sequence[object]]


def planner_steps(now: datetime, config: CareConfig, tz: ZoneInfo) -> list[PlannerStep]:
    """The planner's steps in order (visits, alert tasks, reviews, reminders); each returns what it made.

    Each step is idempotent (dedup keys), so they may run in separate transactions: the hub's care loop
    commits after each, which keeps SQLite's single write lock short (see `_new_tasks`).
    """
    return [
        lambda session: plan_visit_tasks(session, now, config, tz),
        lambda session: tasks_for_alerts(session, now, config),
        lambda session: plan_reviews(session, now, config),
        lambda session: remind_overdue(session, now, config, tz),
    ]


def run_planner(session: Session, now: datetime, config: CareConfig, tz: ZoneInfo) -> PlannerRun:
    """Plan visits, alert tasks and reviews, then remind about overdue tasks, in the caller's transaction."""
    return PlannerRun(*(len(step(session)) for step in planner_steps(now, config, tz)))


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
