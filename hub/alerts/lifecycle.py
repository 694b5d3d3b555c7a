"""The alert lifecycle as a guarded state machine, persisted with a timeline entry per transition.

    open ──► notifying ──► acknowledged ──► resolved
      │          │   ▲            │
      │          │   └─ resumed ──┤   (no outcome within the configured time)
      └──────────┴────────────────┴──► cancelled      (and open/notifying ──► resolved directly)

Every function runs inside the caller's transaction and raises `AlertError` (Chinese and English) when the
transition is not allowed from the alert's current state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts import adjust
from hub.alerts.errors import AlertError
from hub.alerts.messages import resolved_text
from hub.alerts.model import AlertState
from hub.alerts.outbox import cancel_pending, enqueue, facts_for
from hub.alerts.outcomes import OTHER, OUTCOMES, outcome_code
from hub.alerts.recipients import FAMILY_ROLES, contacts_of_homes
from hub.alerts.settings import TightenConfig
from hub.alerts.tables import Escalation
from hub.alerts.templates import alert_params
from hub.register.models import Alert, AlertEvent

ALLOWED: dict[AlertState, frozenset[AlertState]] = {
    AlertState.OPEN: frozenset(
        {AlertState.NOTIFYING, AlertState.ACKNOWLEDGED, AlertState.RESOLVED, AlertState.CANCELLED}
    ),
    AlertState.NOTIFYING: frozenset({AlertState.ACKNOWLEDGED, AlertState.RESOLVED, AlertState.CANCELLED}),
    AlertState.ACKNOWLEDGED: frozenset({AlertState.NOTIFYING, AlertState.RESOLVED, AlertState.CANCELLED}),
    AlertState.RESOLVED: frozenset(),
    AlertState.CANCELLED: frozenset(),
}
CLOSED = frozenset({AlertState.RESOLVED, AlertState.CANCELLED})
# Outbox purposes that ask someone to act (the chain) or the elder to answer (the wellbeing check): once
# someone accepted or the alert closed, their unsent messages are withdrawn.
ASKING = ("act", "check")

_STATE_ZH = {
    AlertState.OPEN: "待处理",
    AlertState.NOTIFYING: "通知中",
    AlertState.ACKNOWLEDGED: "已接单",
    AlertState.RESOLVED: "已处理",
    AlertState.CANCELLED: "已取消",
}


def load(session: Session, alert_id: int) -> Alert:
    """The alert, or `AlertError` when there is none with that id."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertError(f"告警 {alert_id} 不存在 (no alert with id {alert_id})")
    return alert


def transition(
    session: Session,
    alert: Alert,
    to: AlertState,
    *,
    at: datetime,
    event: str,
    detail: str,
    flush: bool = True,
) -> None:
    """Move `alert` to `to` if allowed, closing it when final, and add the timeline entry.

    `flush=False` leaves the writes to the caller's next flush (the escalator flushes once for every
    escalation a claim fires, not once for each)."""
    current = AlertState(alert.state)
    if to not in ALLOWED[current]:
        raise AlertError(
            f"告警 {alert.id} 当前为「{_STATE_ZH[current]}」，不能变为「{_STATE_ZH[to]}」"
            f" (alert {alert.id} is {current}; cannot become {to})"
        )
    alert.state = to
    if to in CLOSED:
        alert.active_key = None
        alert.closed_at = at
    session.add(AlertEvent(alert_id=alert.id, at=at, event=event, detail=detail))
    if flush:
        session.flush()


def acknowledge(session: Session, alert_id: int, *, by: str, via: str, at: datetime) -> Alert:
    """`by` accepts the alert through `via` (web, sms, voice, gsm): escalation pauses until an outcome."""
    alert = load(session, alert_id)
    if alert.state == AlertState.ACKNOWLEDGED:
        esc = _escalation(session, alert_id)
        who = esc.responder if esc is not None and esc.responder else "他人"
        raise AlertError(f"告警 {alert_id} 已由{who}接单 (alert {alert_id} is already acknowledged by {who})")
    transition(
        session, alert, AlertState.ACKNOWLEDGED, at=at, event="acknowledged", detail=f"{by} 经{via}接单"
    )
    esc = _escalation(session, alert_id)
    if esc is not None:
        esc.status = "accepted"
        esc.note = ""
        esc.responder = by
        esc.due_at = at + timedelta(seconds=esc.outcome_wait_s)
        esc.updated_at = at
    cancel_pending(session, alert_id, ASKING)
    session.flush()
    return alert


def resolve(
    session: Session,
    alert_id: int,
    *,
    by: str,
    outcome: str,
    notes: str,
    at: datetime,
    tell_family: bool = True,
    tighten: TightenConfig | None = None,
) -> Alert:
    """Record the outcome: the alert closes, escalation stops, relatives get an FYI.

    `tell_family=False` when the elder settled it themselves before anyone was paged (老人自报平安): the
    relatives were never told of the alert, so an "it is handled" message would only alarm them.
    `outcome` is a code of `outcomes.OUTCOMES` or its label; other text is kept as said and counted as
    `other`. A false alarm may tighten the rule for the home (`adjust.after_resolve`, limits `tighten`).
    """
    if not outcome.strip():
        raise AlertError("处理结果不能为空 (outcome must not be empty)")
    alert = load(session, alert_id)
    code = outcome_code(outcome)
    said = OUTCOMES[code] if code != OTHER else outcome.strip()
    detail = f"{by}：{said}" + (f"（{notes}）" if notes else "")
    transition(session, alert, AlertState.RESOLVED, at=at, event="resolved", detail=detail)
    alert.outcome = code
    _stop(session, alert_id, at)
    adjust.after_resolve(session, alert, tighten or TightenConfig(), at)
    outcome = said
    if alert.alert_class == "elder" and tell_family:
        facts = facts_for(session, alert)
        text = resolved_text(facts, outcome, notes)
        family = contacts_of_homes(session, [alert.home_id], FAMILY_ROLES).get(alert.home_id, [])
        for person in family:
            enqueue(
                session,
                alert_id=alert_id,
                key=f"a{alert_id}-resolved-{person.phone}",
                purpose="fyi",
                role=person.role,
                name=person.name,
                address=person.phone,
                route="sms",
                text=text,
                at=at,
                template="resolved",
                params=alert_params(facts, outcome=outcome),
            )
    return alert


def cancel(session: Session, alert_id: int, *, by: str, reason: str, at: datetime) -> Alert:
    """The elder (or staff for them) cancels: the alert closes and nobody else is asked to go."""
    alert = load(session, alert_id)
    transition(session, alert, AlertState.CANCELLED, at=at, event="cancelled", detail=f"{by}：{reason}")
    _stop(session, alert_id, at)
    return alert


def _stop(session: Session, alert_id: int, at: datetime) -> None:
    esc = _escalation(session, alert_id)
    if esc is not None:
        esc.status = "stopped"
        esc.note = ""
        esc.due_at = None
        esc.renotify_at = None
        esc.updated_at = at
    cancel_pending(session, alert_id, ASKING)
    session.flush()


def _escalation(session: Session, alert_id: int) -> Escalation | None:
    return session.scalar(select(Escalation).where(Escalation.alert_id == alert_id))
