"""Escalation: starts a policy when an alert opens, queues each step's messages, and fires persisted timers.

`Escalator.on_alert_changes` is the pipeline's in-transaction hook: it only records, with the alert, that an
escalation must start (a `new` row due at once) — resolving recipients there cost more than the rest of
ingest during a burst of alerts. The worker, woken right after the commit, runs `fire_due`, which begins new
escalations (policy, first step's outbox rows) and advances every escalation whose `due_at` has passed;
the timers are rows, so a restarted hub finds them again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from hub.alerts import messages
from hub.alerts.lifecycle import transition
from hub.alerts.model import ACTIVE_STATES, AlertState
from hub.alerts.outbox import enqueue, facts_for
from hub.alerts.policy import POLICIES, Policy, choose_policy
from hub.alerts.recipients import Recipient, recipients_for
from hub.alerts.settings import AlertsConfig
from hub.alerts.store import AlertChange
from hub.alerts.tables import Escalation
from hub.clock import Clock
from hub.register.models import Alert, AlertEvent, Elder

LOGGER = logging.getLogger(__name__)

# Status of an escalation recorded in the alert's transaction and not yet begun by the worker.
NEW = "new"

_ROLE_ZH = {
    "visitor": "探访联系人",
    "relative": "亲属",
    "emergency": "紧急联系人",
    "responsible": "责任人",
    "street": "街道值班",
    "district": "区值班",
    "maintenance": "运维",
}


class Escalator:
    """Turns policies into outbox rows and timers; every method runs inside the caller's transaction."""

    def __init__(self, config: AlertsConfig, clock: Clock, timezone: str = "Asia/Shanghai") -> None:
        self._config = config
        self._clock = clock
        self._tz = ZoneInfo(timezone)
        self._tz_name = timezone

    def on_alert_changes(self, session: Session, changes: Sequence[AlertChange]) -> None:
        """RegisterWriter hook: record that each newly opened alert must escalate (same transaction)."""
        now = self._clock.now()
        rows = [self._new_row(change.alert_id, now) for change in changes if change.opened]
        if rows:
            session.execute(insert(Escalation), rows)

    def start(self, session: Session, alert_id: int, now: datetime) -> Escalation | None:
        """Persist the escalation of `alert_id` and begin it at once (idempotent per alert)."""
        existing = session.scalar(select(Escalation).where(Escalation.alert_id == alert_id))
        if existing is not None:
            return existing
        alert = session.get(Alert, alert_id)
        if alert is None or alert.state not in ACTIVE_STATES:
            return None
        esc = Escalation(**self._new_row(alert_id, now))
        session.add(esc)
        session.flush()
        self._begin(session, alert, esc, now)
        return esc

    def _new_row(self, alert_id: int, now: datetime) -> dict[str, object]:
        # The policy is chosen when the escalation begins, from the register as it is then.
        return {
            "alert_id": alert_id,
            "policy": "",
            "step": 0,
            "round": 0,
            "status": NEW,
            "due_at": now,
            "responder": "",
            "outcome_wait_s": self._config.outcome_wait_s,
            "updated_at": now,
        }

    def _begin(self, session: Session, alert: Alert, esc: Escalation, now: datetime) -> None:
        """Choose the policy and queue the first step."""
        tiers = session.scalars(select(Elder.tier).where(Elder.home_id == alert.home_id)).all()
        policy = choose_policy("key" if "key" in tiers else "general", alert.severity, alert.alert_class)
        esc.policy, esc.status, esc.due_at, esc.updated_at = policy.name, "waiting", None, now
        self._run_step(session, alert, esc, policy, 0, 0, now)
        if policy.fyi_family and "family" not in policy.steps[0].targets:
            self._fyi_family(session, alert, now)

    def fire_due(self, session: Session, now: datetime, limit: int | None = None) -> int:
        """Advance escalations whose timer has passed (the oldest `limit` of them); returns how many fired."""
        due = session.scalars(
            select(Escalation)
            .where(Escalation.due_at.is_not(None), Escalation.due_at <= now)
            .order_by(Escalation.due_at, Escalation.id)
            .limit(limit)
        ).all()
        for esc in due:
            alert = session.get(Alert, esc.alert_id)
            if esc.status == NEW and alert is not None and alert.state in ACTIVE_STATES:
                self._begin(session, alert, esc, now)
                continue
            policy = POLICIES.get(esc.policy)
            if alert is None or policy is None or alert.state not in ACTIVE_STATES:
                esc.status, esc.due_at, esc.updated_at = "stopped", None, now
                continue
            if esc.status == "accepted":
                if alert.state != AlertState.ACKNOWLEDGED:
                    continue
                minutes = esc.outcome_wait_s // 60
                transition(
                    session,
                    alert,
                    AlertState.NOTIFYING,
                    at=now,
                    event="resumed",
                    detail=f"接单人{esc.responder}未在{minutes}分钟内登记结果，继续升级",
                )
                esc.status, esc.responder = "waiting", ""
            step, rnd = esc.step + 1, esc.round
            if step >= len(policy.steps):
                if rnd >= policy.repeat:
                    esc.status, esc.due_at, esc.updated_at = "stopped", None, now
                    session.add(
                        AlertEvent(
                            alert_id=alert.id, at=now, event="exhausted", detail="升级链已全部通知，无人接单"
                        )
                    )
                    continue
                step, rnd = 0, rnd + 1
            self._run_step(session, alert, esc, policy, step, rnd, now)
        session.flush()
        return len(due)

    def next_due(self, session: Session) -> datetime | None:
        """The earliest pending escalation timer."""
        return session.scalar(
            select(Escalation.due_at)
            .where(Escalation.due_at.is_not(None))
            .order_by(Escalation.due_at)
            .limit(1)
        )

    # -- steps ----------------------------------------------------------------------------------------

    def _run_step(
        self,
        session: Session,
        alert: Alert,
        esc: Escalation,
        policy: Policy,
        step: int,
        rnd: int,
        now: datetime,
    ) -> None:
        """Queue step `step` of round `rnd`; steps without anyone to reach are skipped at once."""
        local = now.astimezone(self._tz)
        facts = facts_for(session, alert)
        while True:
            spec = policy.steps[step]
            people = [
                r
                for t in spec.targets
                for r in recipients_for(session, alert.home_id, t, local, self._config)
            ]
            if people:
                break
            session.add(
                AlertEvent(
                    alert_id=alert.id,
                    at=now,
                    event="step_skipped",
                    detail=f"第{step + 1}步（{'、'.join(spec.targets)}）无可通知的人，跳过",
                )
            )
            if step + 1 < len(policy.steps):
                step += 1
                continue
            if rnd < policy.repeat and any(
                recipients_for(session, alert.home_id, t, local, self._config)
                for s in policy.steps
                for t in s.targets
            ):
                step, rnd = 0, rnd + 1
                continue
            esc.step, esc.round, esc.status, esc.due_at, esc.updated_at = step, rnd, "stopped", None, now
            session.add(
                AlertEvent(
                    alert_id=alert.id, at=now, event="no_recipients", detail="升级链中没有任何可通知的人"
                )
            )
            LOGGER.error("告警 %s 无人可通知 (no recipients in any step)", alert.id)
            return
        not_before = self._quiet_until(local) if policy.quiet_hours else None
        guidance = policy.urgent_guidance
        for route in spec.routes:
            if route == "robot":
                names = "、".join(f"{p.name}({_ROLE_ZH.get(p.role, p.role)})" for p in people)
                text = self._text(facts, alert, route="sms", guidance=guidance) + f" 已通知：{names}"
                enqueue(
                    session,
                    alert_id=alert.id,
                    key=f"a{alert.id}-r{rnd}-s{step}-robot",
                    purpose="act",
                    role="group",
                    name="群机器人",
                    address="group",
                    route="robot",
                    text=text,
                    at=now,
                    not_before=not_before,
                )
                continue
            for person in people:
                self._enqueue_person(
                    session, alert, facts, person, route, step, rnd, now, not_before, guidance
                )
        who = "、".join(f"{p.name}({_ROLE_ZH.get(p.role, p.role)})" for p in people)
        esc.step, esc.round, esc.status, esc.updated_at = step, rnd, "waiting", now
        esc.due_at = now + timedelta(seconds=spec.wait_s * self._config.wait_scale)
        if alert.state == AlertState.OPEN:
            transition(
                session, alert, AlertState.NOTIFYING, at=now, event="notifying", detail=f"第1步：通知{who}"
            )
        else:
            round_note = f"第{rnd + 1}轮" if rnd else ""
            session.add(
                AlertEvent(
                    alert_id=alert.id,
                    at=now,
                    event="escalated",
                    detail=f"{round_note}第{step + 1}步：通知{who}",
                )
            )

    def _enqueue_person(
        self,
        session: Session,
        alert: Alert,
        facts: messages.AlertFacts,
        person: Recipient,
        route: str,
        step: int,
        rnd: int,
        now: datetime,
        not_before: datetime | None,
        guidance: bool,
    ) -> None:
        enqueue(
            session,
            alert_id=alert.id,
            key=f"a{alert.id}-r{rnd}-s{step}-{route}-{person.phone}",
            purpose="act",
            role=person.role,
            name=person.name,
            address=person.phone,
            route=route,
            text=self._text(facts, alert, route=route, guidance=guidance),
            at=now,
            not_before=not_before,
        )

    def _text(self, facts: messages.AlertFacts, alert: Alert, *, route: str, guidance: bool) -> str:
        if alert.alert_class == "device":
            return messages.device_text(facts, self._tz_name, alert.device_code)
        if route == "voice":
            return messages.voice_text(facts, guidance=guidance)
        return messages.act_text(facts, self._tz_name, guidance=guidance)

    def _fyi_family(self, session: Session, alert: Alert, now: datetime) -> None:
        facts = facts_for(session, alert)
        text = messages.fyi_open_text(facts, self._tz_name)
        for person in recipients_for(
            session, alert.home_id, "family", now.astimezone(self._tz), self._config
        ):
            enqueue(
                session,
                alert_id=alert.id,
                key=f"a{alert.id}-fyi-open-{person.phone}",
                purpose="fyi",
                role=person.role,
                name=person.name,
                address=person.phone,
                route="sms",
                text=text,
                at=now,
            )

    def _quiet_until(self, local: datetime) -> datetime | None:
        """End of the quiet hours (UTC) if `local` falls in them, else None."""
        span = self._config.quiet_hours
        if not span:
            return None
        start_s, end_s = span.split("-")
        start = time(int(start_s[:2]), int(start_s[3:]))
        end = time(int(end_s[:2]), int(end_s[3:]))
        now_t = local.time().replace(tzinfo=None)
        inside = (start <= now_t < end) if start < end else (now_t >= start or now_t < end)
        if not inside:
            return None
        end_dt = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if end_dt <= local:
            end_dt += timedelta(days=1)
        return end_dt.astimezone(ZoneInfo("UTC"))
