"""Escalation: starts a policy when an alert opens, queues each step's messages, and fires persisted timers.

`Escalator.on_alert_changes` is the pipeline's in-transaction hook: it only records, with the alert, that an
escalation must start (a `new` row due at once) — resolving recipients there cost more than the rest of
ingest during a burst of alerts. The worker, woken right after the commit, runs `fire_due`, which begins new
escalations (policy, first step's outbox rows) and advances every escalation whose `due_at` has passed;
the timers are rows, so a restarted hub finds them again.

A chain that runs out without an acceptance is never left quiet: the escalation becomes `exhausted` and
rings the policy's duty line (`Policy.exhausted`) on a fixed cadence until someone accepts. A repeated press
(`PRESS_KINDS`) is marked by the hook (`renotify_at`) and the worker notifies again at once: the current
step's people, the duty line when exhausted, and the responder when someone has accepted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from hub.alerts import messages
from hub.alerts.elder_check import CHECK_FAILED, CHECKING, PURPOSE
from hub.alerts.lifecycle import transition
from hub.alerts.model import ACTIVE_STATES, AlertState
from hub.alerts.outbox import Entry, cancel_pending, enqueue_all, facts_for, facts_of
from hub.alerts.policy import POLICIES, PRESS_KINDS, Policy, Step, choose_policy, first_step
from hub.alerts.recipients import Recipient, contacts_of_homes, recipients_by_target, recipients_for
from hub.alerts.settings import AlertsConfig
from hub.alerts.store import AlertChange
from hub.alerts.tables import Escalation, OutboxMessage
from hub.alerts.templates import act_kind, alert_params
from hub.clock import Clock
from hub.cluster import HomeScope
from hub.register.db import among
from hub.register.models import Alert, AlertEvent, Elder, Home

LOGGER = logging.getLogger(__name__)

# Status of an escalation recorded in the alert's transaction and not yet begun by the worker.
NEW = "new"
# Status once every round ran out without an acceptance: the duty line is rung until someone accepts.
EXHAUSTED = "exhausted"

_ROLE_ZH = {
    "visitor": "探访联系人",
    "relative": "亲属",
    "emergency": "紧急联系人",
    "responsible": "责任人",
    "street": "街道值班",
    "district": "区值班",
    "maintenance": "运维",
}


def _in_scope(session: Session, scope: HomeScope | None) -> tuple[ColumnElement[bool], ...]:
    """The condition that keeps an escalation query to the homes of `scope` (none when None).

    The home is looked up per escalation row (by the alert's key), so the database checks only the rows
    the query's other conditions leave, not every alert the register ever had."""
    if scope is None:
        return ()
    home = select(Alert.home_id).where(Alert.id == Escalation.alert_id).scalar_subquery()
    return (among(session, home, scope.home_ids),)


@dataclass(frozen=True, slots=True)
class _HomeElder:
    """What beginning an escalation needs of one of the home's elders (not the whole record: its health
    fields are encrypted, and decrypting them for every alert would cost time and expose them for nothing)."""

    name: str
    phone: str
    tier: str
    can_answer_phone: bool


@dataclass(frozen=True, slots=True)
class _Home:
    """A home as beginning an escalation needs it: code and address for the messages, its elders."""

    code: str
    address: str
    elders: list[_HomeElder]


@dataclass(slots=True)
class _Claim:
    """What the escalations of one `fire_due` share, so that a claim of several alerts costs a few
    statements, not a few per alert: the homes (with elders) and contacts of the alerts it begins, each read
    in one query, and every message it queues, written in one insert at its end.

    Holding the messages to the end is safe because an alert has one escalation (so a claim handles each
    alert once) and nothing in a claim reads another alert's messages."""

    homes: dict[int, _Home]
    contacts: dict[int, list[Recipient]]
    entries: list[Entry]


def _names(people: Sequence[Recipient]) -> str:
    return "、".join(f"{p.name}({_ROLE_ZH.get(p.role, p.role)})" for p in people)


class Escalator:
    """Turns policies into outbox rows and timers; every method runs inside the caller's transaction."""

    def __init__(self, config: AlertsConfig, clock: Clock, timezone: str = "Asia/Shanghai") -> None:
        self._config = config
        self._clock = clock
        self._tz = ZoneInfo(timezone)
        self._tz_name = timezone
        # Whether a voice channel that collects the elder's key is live: Twilio with a public URL, an
        # Aliyun/Tencent call with its callback token, or a GSM modem whose voice probe passed
        # (`AlertService` sets that one once the channels are open).
        self.can_call_elder = self._keypress_voice()
        # The claim under way; `fire_due` runs one at a time (the worker's), the lock only makes sure.
        self._claim: _Claim | None = None
        self._firing = threading.Lock()

    def on_alert_changes(self, session: Session, changes: Sequence[AlertChange]) -> None:
        """RegisterWriter hook: record that each newly opened alert must escalate, and that each new press
        on an active one must be told again (same transaction; the worker does the rest)."""
        now = self._clock.now()
        rows = [self._new_row(change.alert_id, now) for change in changes if change.opened]
        if rows:
            session.execute(insert(Escalation), rows)
        pressed = [c.alert_id for c in changes if not c.opened and not c.cancelled and c.kind in PRESS_KINDS]
        if pressed:
            session.execute(
                update(Escalation)
                .where(Escalation.alert_id.in_(pressed), Escalation.renotify_at.is_(None))
                .values(renotify_at=now)
            )

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
        # The home and its elders (read with the claim's other homes): the policy (the elders' tier), whom
        # to ask first, and what the messages say (`facts_for`) all come from it.
        home = self._in_claim().homes.get(alert.home_id) or _Home("", "", [])
        elders = home.elders
        facts = facts_of(alert, home.code, home.address, [e.name for e in elders])
        tier = "key" if any(e.tier == "key" for e in elders) else "general"
        policy = choose_policy(tier, alert.severity, alert.alert_class)
        esc.policy, esc.status, esc.due_at, esc.updated_at = policy.name, "waiting", None, now
        elder = self._elder_to_ask(alert, elders)
        if elder is not None:
            self._ask_elder(session, alert, esc, elder, now, facts)
            return
        self._page(session, alert, esc, policy, now, facts)

    def _page(
        self,
        session: Session,
        alert: Alert,
        esc: Escalation,
        policy: Policy,
        now: datetime,
        facts: messages.AlertFacts | None = None,
    ) -> None:
        """Queue the chain's first step (and the relatives' FYI when they are not in it)."""
        self._run_step(session, alert, esc, policy, 0, 0, now, facts)
        if policy.fyi_family and "family" not in policy.steps[0].targets:
            self._fyi_family(session, alert, now, facts)

    def _elder_to_ask(self, alert: Alert, elders: Sequence[_HomeElder]) -> Recipient | None:
        """The elder to ask first (the first of the home's `elders` who can answer and has a phone), or None."""
        if alert.alert_class != "elder":
            return None
        for elder in elders:
            phone = (elder.phone or "").strip()
            if first_step(alert.check_first, elder.can_answer_phone, bool(phone)) == "elder_check":
                return Recipient(elder.name, "elder", phone)
        return None

    def _ask_elder(
        self,
        session: Session,
        alert: Alert,
        esc: Escalation,
        elder: Recipient,
        now: datetime,
        facts: messages.AlertFacts,
    ) -> None:
        """Call and text the elder ("平安请按1"); the chain waits `elder_check_wait_s` for the answer."""
        # The call needs a voice channel that can collect the key; without one the SMS alone asks (the
        # voice route's fallback would otherwise send the call's text as a second SMS).
        routes = ["sms"]
        if self.can_call_elder:
            routes.insert(0, "voice")
        params = alert_params(facts, self._tz_name)
        self._queue(
            [
                Entry(
                    alert_id=alert.id,
                    key=f"a{alert.id}-check-{route}-{elder.phone}",
                    purpose=PURPOSE,
                    role=elder.role,
                    name=elder.name,
                    address=elder.phone,
                    route=route,
                    text=messages.check_voice(facts)
                    if route == "voice"
                    else messages.check_text(facts, self._tz_name),
                    at=now,
                    template="check",
                    params=params,
                )
                for route in routes
            ],
        )
        wait = self._config.elder_check_wait_s * self._config.wait_scale
        esc.status, esc.step, esc.round, esc.note = CHECKING, -1, 0, "先询问老人"
        esc.due_at = now + timedelta(seconds=wait)
        how = "电话并短信" if "voice" in routes else "短信"
        detail = (
            f"先询问老人：{how}联系{elder.name}，{wait / 60:g}分钟内按1或回复1即报平安，否则通知探访联系人"
        )
        if alert.state == AlertState.OPEN:
            transition(
                session, alert, AlertState.NOTIFYING, at=now, event="elder_check", detail=detail, flush=False
            )
        else:
            session.add(AlertEvent(alert_id=alert.id, at=now, event="elder_check", detail=detail))

    def fire_due(
        self, session: Session, now: datetime, limit: int | None = None, scope: HomeScope | None = None
    ) -> int:
        """Advance escalations whose timer has passed (the oldest `limit` of them); returns how many fired.

        `scope`: only those of these homes' alerts (partitioned instances); None: every one."""
        with self._firing:
            try:
                return self._fire_due(session, now, limit, scope)
            finally:
                self._claim = None

    def _fire_due(self, session: Session, now: datetime, limit: int | None, scope: HomeScope | None) -> int:
        due = session.scalars(
            select(Escalation)
            .where(
                or_(
                    and_(Escalation.due_at.is_not(None), Escalation.due_at <= now),
                    and_(Escalation.renotify_at.is_not(None), Escalation.renotify_at <= now),
                ),
                *_in_scope(session, scope),
            )
            .order_by(Escalation.id)
            .limit(limit)
        ).all()
        # One query for the alerts of all of them (into the session), not one each.
        ids = sorted({e.alert_id for e in due})
        alerts = {a.id: a for a in session.scalars(select(Alert).where(Alert.id.in_(ids)))} if ids else {}
        # The homes whose alerts this claim begins: their elders and contacts in one query each. The
        # escalator changes neither, so what it changed earlier in the claim needs no flush first.
        begin = {
            alerts[e.alert_id].home_id
            for e in due
            if e.status == NEW and e.due_at is not None and e.due_at <= now and e.alert_id in alerts
        }
        with session.no_autoflush:
            self._claim = _Claim(
                _read_homes(session, begin) if begin else {},
                contacts_of_homes(session, sorted(begin)) if begin else {},
                [],
            )
        for esc in due:
            alert = alerts.get(esc.alert_id)
            if esc.renotify_at is not None and esc.renotify_at <= now:
                self._press(session, alert, esc, now)
            if esc.due_at is None or esc.due_at > now:
                continue
            if esc.status == NEW and alert is not None and alert.state in ACTIVE_STATES:
                self._begin(session, alert, esc, now)
                continue
            policy = POLICIES.get(esc.policy)
            if alert is None or policy is None or alert.state not in ACTIVE_STATES:
                esc.status, esc.due_at, esc.updated_at = "stopped", None, now
                continue
            if esc.status in (CHECKING, CHECK_FAILED):
                if esc.status == CHECKING:
                    waited = f"{self._config.elder_check_wait_s * self._config.wait_scale / 60:g}"
                    detail = f"老人未在{waited}分钟内报平安，通知探访联系人"
                    session.add(
                        AlertEvent(alert_id=alert.id, at=now, event="elder_check_unanswered", detail=detail)
                    )
                cancel_pending(session, alert.id, (PURPOSE,))
                esc.status, esc.note = "waiting", ""
                self._page(session, alert, esc, policy, now)
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
            if esc.status == EXHAUSTED:
                self._exhaust(session, alert, esc, policy, now)
                continue
            step, rnd = esc.step + 1, esc.round
            if step >= len(policy.steps):
                if rnd >= policy.repeat:
                    self._exhaust(session, alert, esc, policy, now)
                    continue
                step, rnd = 0, rnd + 1
            self._run_step(session, alert, esc, policy, step, rnd, now)
        enqueue_all(session, self._claim.entries)
        session.flush()
        return len(due)

    def next_due(self, session: Session, scope: HomeScope | None = None) -> datetime | None:
        """The earliest pending escalation timer (a step, a duty ring or a press to tell) of `scope`."""
        times = session.execute(
            select(func.min(Escalation.due_at), func.min(Escalation.renotify_at)).where(
                or_(Escalation.due_at.is_not(None), Escalation.renotify_at.is_not(None)),
                *_in_scope(session, scope),
            )
        ).one()
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

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
        facts: messages.AlertFacts | None = None,
    ) -> None:
        """Queue step `step` of round `rnd`; steps without anyone to reach are skipped at once.

        `facts`: what the messages say, when the caller has read it already."""
        local = now.astimezone(self._tz)
        if facts is None:
            facts = facts_for(session, alert)
        while True:
            spec = policy.steps[step]
            # The contacts query reads no row this escalation has changed: no flush before it (the
            # changes go with the claim's one flush).
            with session.no_autoflush:
                by_target = recipients_by_target(
                    session, alert.home_id, spec.targets, local, self._config, self._contacts(alert.home_id)
                )
            people = [r for t in spec.targets for r in by_target[t]]
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
            # Nobody in any step of any round: the chain is exhausted at once (the duty line, or nobody).
            esc.step, esc.round = step, rnd
            self._exhaust(session, alert, esc, policy, now)
            return
        not_before = self._quiet_until(local) if policy.quiet_hours else None
        guidance = policy.urgent_guidance
        self._send(
            alert,
            people,
            spec.routes,
            f"a{alert.id}-r{rnd}-s{step}",
            lambda route: self._text(facts, alert, route=route, guidance=guidance),
            now,
            not_before,
            template=act_kind(alert.kind, alert.alert_class),
            params=alert_params(facts, self._tz_name, device=alert.device_code),
        )
        who = _names(people)
        esc.step, esc.round, esc.status, esc.updated_at, esc.note = step, rnd, "waiting", now, ""
        esc.due_at = now + timedelta(seconds=spec.wait_s * self._config.wait_scale)
        if alert.state == AlertState.OPEN:
            transition(
                session,
                alert,
                AlertState.NOTIFYING,
                at=now,
                event="notifying",
                detail=f"第1步：通知{who}",
                flush=False,
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

    def _send(
        self,
        alert: Alert,
        people: Sequence[Recipient],
        routes: Sequence[str],
        key: str,
        text_for: Callable[[str], str],
        now: datetime,
        not_before: datetime | None = None,
        *,
        template: str,
        params: Mapping[str, str],
    ) -> None:
        """Queue "please act" messages to `people` over `routes`; the group robot gets one with the names.

        `template` and `params` are the message kind and values template-only channels send instead."""

        def entry(tail: str, role: str, name: str, address: str, route: str, text: str) -> Entry:
            return Entry(
                alert_id=alert.id,
                key=f"{key}-{tail}",
                purpose="act",
                role=role,
                name=name,
                address=address,
                route=route,
                text=text,
                at=now,
                not_before=not_before,
                template=template,
                params=params,
            )

        entries = []
        for route in routes:
            if route == "robot":
                text = text_for("sms") + f" 已通知：{_names(people)}"
                entries.append(entry("robot", "group", "群机器人", "group", "robot", text))
                continue
            text = text_for(route)
            entries.extend(entry(f"{route}-{p.phone}", p.role, p.name, p.phone, route, text) for p in people)
        self._queue(entries)

    def _in_claim(self) -> _Claim:
        """The claim under way: every step of an escalation runs inside `fire_due`."""
        if self._claim is None:
            raise RuntimeError("escalation steps run only inside fire_due")
        return self._claim

    def _queue(self, entries: Sequence[Entry]) -> None:
        """Queue `entries` with the claim's others (written at its end)."""
        self._in_claim().entries.extend(entries)

    def _contacts(self, home_id: int) -> list[Recipient] | None:
        """The home's contacts when the claim read them already (a home it begins an alert of), else None."""
        claim = self._in_claim()
        return claim.contacts.get(home_id, []) if home_id in claim.homes else None

    def _people(
        self, session: Session, alert: Alert, targets: Sequence[str], local: datetime
    ) -> list[Recipient]:
        """Everyone behind `targets`, deduplicated by phone, in order."""
        seen: set[str] = set()
        out = []
        for target in targets:
            for person in recipients_for(session, alert.home_id, target, local, self._config):
                if person.phone not in seen:
                    seen.add(person.phone)
                    out.append(person)
        return out

    def _duty(
        self, session: Session, alert: Alert, policy: Policy, local: datetime
    ) -> tuple[list[Recipient], str]:
        """Who an exhausted chain rings, and the board's note: the duty line, else everyone in the chain."""
        spec = policy.exhausted
        people = self._people(session, alert, spec.targets, local)
        if people:
            return people, "无人接单·已升级" + "、".join(_ROLE_ZH.get(t, t) for t in spec.targets)
        # No duty line configured (a start-up configuration error): the whole chain is rung instead.
        people = self._people(session, alert, [t for s in policy.steps for t in s.targets], local)
        if people:
            return people, "无人接单·未配置值班，重复通知全链"
        return [], "无人可通知·配置错误"

    def _exhaust(
        self, session: Session, alert: Alert, esc: Escalation, policy: Policy, now: datetime
    ) -> None:
        """The chain ran out without an acceptance: ring the duty line now and again every cadence."""
        spec: Step = policy.exhausted
        first = esc.status != EXHAUSTED
        # Rings count on from the last round, so each ring's messages have keys of their own.
        esc.round = max(esc.round, policy.repeat) + 1
        every = self._config.exhausted_repeat_s.get(policy.name, spec.wait_s) * self._config.wait_scale
        esc.status, esc.due_at, esc.updated_at = EXHAUSTED, now + timedelta(seconds=every), now
        local = now.astimezone(self._tz)
        people, esc.note = self._duty(session, alert, policy, local)
        minutes = f"{every / 60:g}"
        if not people:
            last = session.scalar(
                select(AlertEvent.event)
                .where(AlertEvent.alert_id == alert.id)
                .order_by(AlertEvent.id.desc())
                .limit(1)
            )
            if last != "no_recipients":  # said once, not every cadence; it is retried every cadence
                session.add(
                    AlertEvent(
                        alert_id=alert.id,
                        at=now,
                        event="no_recipients",
                        detail="配置错误：登记册中该户没有任何可通知的人，且未配置区值班"
                        f"（alerts.district_duty）；每{minutes}分钟重试",
                    )
                )
                LOGGER.error(
                    "配置错误 configuration error: 告警 %s 无人可通知 (nobody in the register for this home "
                    "and no alerts.district_duty)",
                    alert.id,
                )
            return
        facts = facts_for(session, alert)
        not_before = self._quiet_until(local) if policy.quiet_hours else None

        def text_for(route: str) -> str:
            if alert.alert_class == "device":
                return self._text(facts, alert, route=route, guidance=False)
            if route == "voice":
                return messages.exhausted_voice(facts)
            return messages.exhausted_text(facts, self._tz_name)

        self._send(
            alert,
            people,
            spec.routes,
            f"a{alert.id}-x{esc.round}",
            text_for,
            now,
            not_before,
            template="device" if alert.alert_class == "device" else "exhausted",
            params=alert_params(facts, self._tz_name, device=alert.device_code),
        )
        if alert.state == AlertState.OPEN:
            transition(session, alert, AlertState.NOTIFYING, at=now, event="notifying", detail=esc.note)
        if first:
            detail = f"升级链已全部通知，无人接单：通知{_names(people)}，每{minutes}分钟重复，直至有人接单"
            session.add(AlertEvent(alert_id=alert.id, at=now, event="exhausted", detail=detail))
        else:
            ring = esc.round - policy.repeat
            detail = f"无人接单，第{ring}次通知{_names(people)}"
            session.add(AlertEvent(alert_id=alert.id, at=now, event="duty_rung", detail=detail))

    def _press(self, session: Session, alert: Alert | None, esc: Escalation, now: datetime) -> None:
        """A new press on an active alert: tell the current step's people (and the responder) again."""
        policy = POLICIES.get(esc.policy)
        if alert is None or alert.state not in ACTIVE_STATES or esc.status == NEW or policy is None:
            esc.renotify_at = None  # closed, or not begun yet (its first messages count every press)
            return
        last = session.scalar(
            select(func.max(OutboxMessage.created_at)).where(
                OutboxMessage.alert_id == alert.id, OutboxMessage.idempotency_key.like(f"a{alert.id}-p%")
            )
        )
        merge = timedelta(seconds=self._config.press_merge_s)
        if last is not None and now < last + merge:
            esc.renotify_at = last + merge  # told together with the presses still to come in this window
            return
        esc.renotify_at = None
        local = now.astimezone(self._tz)
        if esc.status == EXHAUSTED:
            spec = policy.exhausted
            people, _ = self._duty(session, alert, policy, local)
        else:
            spec = policy.steps[min(esc.step, len(policy.steps) - 1)]
            people = self._people(session, alert, spec.targets, local)
            if not people:  # the register changed since that step: whoever the duty line is now
                people, _ = self._duty(session, alert, policy, local)
        responder = esc.responder if esc.status == "accepted" else ""
        if responder:
            people = self._with_responder(session, alert.id, responder, people)
        if not people:
            session.add(
                AlertEvent(
                    alert_id=alert.id,
                    at=now,
                    event="pressed",
                    detail=f"第{alert.count}次按下：配置错误，无任何可通知的人",
                )
            )
            LOGGER.error("配置错误 configuration error: 告警 %s 再次按下但无人可通知", alert.id)
            return
        facts = facts_for(session, alert)
        presses = alert.count

        def text_for(route: str) -> str:
            if route == "voice":
                return messages.press_voice(facts, presses=presses, responder=responder)
            return messages.press_text(facts, self._tz_name, presses=presses, at=now, responder=responder)

        self._send(
            alert,
            people,
            spec.routes,
            f"a{alert.id}-p{presses}",
            text_for,
            now,
            template="press",
            params=alert_params(facts, self._tz_name, presses=presses, responder=responder),
        )
        session.add(
            AlertEvent(
                alert_id=alert.id,
                at=now,
                event="pressed",
                detail=f"第{presses}次按下，再次通知{_names(people)}",
            )
        )

    def _with_responder(
        self, session: Session, alert_id: int, responder: str, people: list[Recipient]
    ) -> list[Recipient]:
        """`people` plus the person who accepted, when the hub messaged them about this alert before."""
        row = session.execute(
            select(OutboxMessage.name, OutboxMessage.role, OutboxMessage.address)
            .where(
                OutboxMessage.alert_id == alert_id,
                OutboxMessage.purpose == "act",
                OutboxMessage.name == responder,
                OutboxMessage.route != "robot",
            )
            .limit(1)
        ).first()
        if row is None or any(p.phone == row.address for p in people):
            return people
        return [Recipient(row.name, row.role, row.address), *people]

    def _text(self, facts: messages.AlertFacts, alert: Alert, *, route: str, guidance: bool) -> str:
        if alert.alert_class == "device":
            return messages.device_text(facts, self._tz_name, alert.device_code)
        if route == "voice":
            return messages.voice_text(facts, guidance=guidance)
        return messages.act_text(facts, self._tz_name, guidance=guidance)

    def _fyi_family(
        self, session: Session, alert: Alert, now: datetime, facts: messages.AlertFacts | None = None
    ) -> None:
        if facts is None:
            facts = facts_for(session, alert)
        text = messages.fyi_open_text(facts, self._tz_name)
        params = alert_params(facts, self._tz_name)
        family = recipients_for(
            session,
            alert.home_id,
            "family",
            now.astimezone(self._tz),
            self._config,
            self._contacts(alert.home_id),
        )
        self._queue(
            [
                Entry(
                    alert_id=alert.id,
                    key=f"a{alert.id}-fyi-open-{person.phone}",
                    purpose="fyi",
                    role=person.role,
                    name=person.name,
                    address=person.phone,
                    route="sms",
                    text=text,
                    at=now,
                    template="fyi",
                    params=params,
                )
                for person in family
            ],
        )

    def _keypress_voice(self) -> bool:
        """True when a configured voice channel can report the callee's keypress back to the hub."""
        cfg = self._config
        return (
            (cfg.twilio.enabled and bool(cfg.public_url))
            or (cfg.aliyun.voice_enabled and bool(cfg.aliyun.callback_token))
            or (cfg.tencent.voice_enabled and bool(cfg.tencent.callback_token))
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


def _read_homes(session: Session, home_ids: Iterable[int]) -> dict[int, _Home]:
    """The homes of `home_ids` with their elders (in register order), in one query."""
    rows = session.execute(
        select(
            Home.id.label("home_id"),
            Home.code,
            Home.address,
            Elder.id,
            Elder.name,
            Elder.phone,
            Elder.tier,
            Elder.can_answer_phone,
        )
        .outerjoin(Elder, Elder.home_id == Home.id)
        .where(Home.id.in_(sorted(set(home_ids))))
        .order_by(Home.id, Elder.id)
    ).all()
    homes: dict[int, _Home] = {}
    for r in rows:
        home = homes.setdefault(r.home_id, _Home(r.code, r.address or "", []))
        if r.id is not None:
            home.elders.append(_HomeElder(r.name, r.phone or "", r.tier, r.can_answer_phone))
    return homes
