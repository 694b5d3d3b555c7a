"""The delivery worker: sends outbox rows and fires escalation timers.

Retry, backoff, fallback and rate limiting live here and only here; a channel sends once and says whether
a failure is retryable. Delivery is at least once: a row is marked sent only after the channel returned,
so a crash in between sends it again (with the same idempotency key). The worker wakes at once when told
(`wake()`, right after an alert's transaction commits) and otherwise at the next due time or every
`poll_s`, whichever comes first, so timers survive restarts and fire within `poll_s` of being due.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import elder_check
from hub.alerts.channels.base import Notification, Notifier, NotifyError
from hub.alerts.escalation import Escalator
from hub.alerts.outbox import FAILED, PENDING, SENT
from hub.alerts.settings import AlertsConfig
from hub.alerts.tables import OutboxMessage
from hub.alerts.wording import notified_detail
from hub.clock import Clock
from hub.cluster import HomeScope
from hub.register.db import among, retryable
from hub.register.models import Alert, AlertEvent

LOGGER = logging.getLogger(__name__)

CLAIM_MAX = 200
# Escalations begun or advanced per claim (the rest follow at once, in the next claim).
FIRE_MAX = 8
# Messages whose delivery goes on the alert's timeline ("notified"): asking to act, telling, asking the elder.
NOTIFIED_PURPOSES = ("act", "fyi", elder_check.PURPOSE)
# Provider statuses that mean "not reached", as the timeline says them.
STATUS_ZH = {
    "busy": "占线",
    "no-answer": "无人接听",
    "failed": "失败",
    "undelivered": "未送达",
    "canceled": "已取消",
}


@dataclass(frozen=True, slots=True)
class _Job:
    id: int
    alert_id: int | None
    key: str
    purpose: str
    address: str
    route: str
    channel_index: int
    attempts: int
    text: str
    template: str = ""
    params: str = "{}"


@dataclass(frozen=True, slots=True)
class _Result:
    job: _Job
    channel: str
    provider_id: str = ""
    error: str = ""
    retryable: bool = False
    deferred_until: datetime | None = None


class RateLimiter:
    """At most `count` messages per recipient in any `window`; a limited message is delayed, not dropped."""

    def __init__(self, count: int, window_s: float) -> None:
        self._count = count
        self._window = timedelta(seconds=window_s)
        self._sent: dict[str, deque[datetime]] = {}

    def admit(self, address: str, now: datetime) -> datetime | None:
        """Record a send and return None, or return when the recipient may be messaged again."""
        times = self._sent.setdefault(address, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        if len(times) >= self._count:
            return times[0] + self._window
        times.append(now)
        return None


class AlertWorker:
    """Delivers the outbox through the configured channels and runs the escalation timers."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        escalator: Escalator,
        channels: Mapping[str, Notifier],
        config: AlertsConfig,
        clock: Clock,
        fence: Callable[[Session], None] | None = None,
        scope: Callable[[], HomeScope] | None = None,
        on_round: Callable[[float], None] | None = None,
    ) -> None:
        self._sessions = sessions
        # Told after each round's sends, with when (time.monotonic) its claim began: the pipeline's
        # routine work waits while an urgent alert is on its way out (hub.ingest.gate).
        self._on_round = on_round
        self._fence = fence  # first in every claim: raises when this hub may no longer act (hot standby)
        self._scope = scope  # partitioned instances: claim only the owned partitions' homes' work
        self._escalator = escalator
        self._channels = channels  # may be filled later (AlertService opens channels on enter)
        self._config = config
        self._clock = clock
        self._limiter = RateLimiter(config.rate_limit_count, config.rate_limit_window_s)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None  # set by run()
        self.sent = 0  # messages delivered since start
        self._slots: dict[str, asyncio.Semaphore] = {}  # channels that send one message at a time
        self.last_loop_at: datetime | None = None  # heartbeat for the hub's health check
        # A message whose every real channel failed (it reached only the log), and the last real delivery:
        # the health check says "notifications are not getting through" while the failure is the newer.
        self.last_undelivered: tuple[datetime, str] | None = None
        self.last_delivered_at: datetime | None = None

    def chain(self, route: str) -> list[str]:
        """The route's channels that are configured here, in fallback order, always ending with "log"."""
        names = [n for n in self._config.routes.get(route, []) if n in self._channels and n != "log"]
        return [*names, "log"]

    def wake(self) -> None:
        """Ask the worker to look at the outbox now (safe to call from any thread)."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Work until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            self.last_loop_at = self._clock.now()
            delay = await self.run_once()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    async def run_once(self) -> float:
        """Fire due timers, send due messages; return how long to sleep before the next look."""
        claim_started = time.monotonic()
        try:
            jobs, full, next_due = await asyncio.to_thread(self._claim)
        except DBAPIError as exc:
            if not retryable(exc):
                raise
            # PostgreSQL rolled the claim back as a deadlock victim (the pipeline updates an alert, then
            # its escalation; a claim the other way round): nothing of it was kept, so look again.
            LOGGER.warning("告警认领事务因死锁被回滚，重试 (claim was a deadlock victim, retrying): %s", exc)
            return 0.05
        if jobs:
            results = await asyncio.gather(*(self._send(job) for job in jobs))
            self._round_done(claim_started)
            next_due = await asyncio.to_thread(self._record, results)
            if full:
                return 0.0  # more are due at once: the claim took only its share
        else:
            self._round_done(claim_started)
        # A fallback or a deferral the round recorded is in `next_due` (due now, or at its time).
        if next_due is None:
            return self._config.poll_s
        wait = (next_due - self._clock.now()).total_seconds()
        return max(0.0, min(wait, self._config.poll_s))

    def _round_done(self, claim_started: float) -> None:
        if self._on_round is not None:
            self._on_round(claim_started)

    # -- database side (threads) ----------------------------------------------------------------------

    def _claim(self) -> tuple[list[_Job], bool, datetime | None]:
        """Fire due escalations and claim due messages: the jobs, whether the claim was full (more may be
        due already), and when the next message or timer is due (None with jobs: `_record` tells)."""
        # Few escalations per transaction: on SQLite the register has one writer at a time, and a long
        # transaction here would hold up the ingest pipeline's commits (and so the MQTT acknowledgements).
        now = self._clock.now()
        with self._sessions.begin() as session:
            if self._fence is not None:
                self._fence(session)
            scope = None if self._scope is None else self._scope()
            mine = _outbox_scope(session, scope)
            fired = self._escalator.fire_due(session, now, limit=FIRE_MAX, scope=scope)
            # As plain rows of the columns a send needs, not ORM objects: `_record` reads what it decides
            # by again, after the sends.
            jobs = [
                _Job(*row)
                for row in session.connection().execute(
                    select(*_JOB)
                    .where(_OUTBOX.c.status == PENDING, _OUTBOX.c.next_attempt_at <= now, *mine)
                    .order_by(_OUTBOX.c.id)
                    .limit(CLAIM_MAX)
                )
            ]
            full = fired >= FIRE_MAX or len(jobs) >= CLAIM_MAX
            # With jobs, the next due time is read after they are recorded (their fallbacks and
            # deferrals count): a claim of one SOS costs no second claim that finds nothing.
            return jobs, full, None if jobs else self._next_due(session, scope, mine)

    def _next_due(
        self, session: Session, scope: HomeScope | None, mine: tuple[ColumnElement[bool], ...]
    ) -> datetime | None:
        """The earliest pending message or escalation timer of `scope`."""
        next_msg = session.scalar(
            select(OutboxMessage.next_attempt_at)
            .where(OutboxMessage.status == PENDING, *mine)
            .order_by(OutboxMessage.next_attempt_at)
            .limit(1)
        )
        next_esc = self._escalator.next_due(session, scope)
        candidates = [t for t in (next_msg, next_esc) if t is not None]
        return min(candidates) if candidates else None

    def _record(self, results: list[_Result]) -> datetime | None:
        """Record what each send did; return when the next message or timer is due."""
        now = self._clock.now()
        with self._sessions.begin() as session:
            conn = session.connection()
            # The round's rows in one query, as the columns deciding what to record (not whole rows: the
            # texts stay in the database, and no ORM object is made for a message that simply went out).
            rows = {
                row.id: row
                for row in conn.execute(select(*_DECIDE).where(_OUTBOX.c.id.in_([r.job.id for r in results])))
            }
            # A message sent as asked (nearly all of them) is recorded by two statements for the whole
            # round; anything else goes through `_record_other` with its ORM row. The sent ones seen so
            # far are written before each other one, so the timeline keeps the round's order.
            sent: list[dict[str, object]] = []
            told: list[dict[str, object]] = []
            for res in results:
                row = rows.get(res.job.id)
                if row is None or row.status != PENDING:
                    continue  # cancelled meanwhile (someone accepted): nothing to record
                if (
                    res.deferred_until is None
                    and not res.error
                    and not _only_logged(res.channel, row.channel_index, row.purpose)
                    and not provider_failed(row.route, row.provider_status)
                ):
                    self._delivered(res.channel, now)
                    sent.append(
                        {"b_id": row.id, "b_at": now, "b_via": res.channel, "b_provider": res.provider_id}
                    )
                    if (event := _notified(row, res.channel, now)) is not None:
                        told.append(event)
                    continue
                self._write_sent(session, sent, told)
                self._record_other(session, res, now)
            self._write_sent(session, sent, told)
            session.flush()
            scope = None if self._scope is None else self._scope()
            return self._next_due(session, scope, _outbox_scope(session, scope))

    @staticmethod
    def _write_sent(session: Session, sent: list[dict[str, object]], told: list[dict[str, object]]) -> None:
        """Mark `sent` rows sent and add their `told` timeline entries (after what the session holds)."""
        if not sent:
            return
        session.flush()  # what `_record_other` added comes first on the timeline
        conn = session.connection()
        conn.execute(_MARK_SENT, sent)
        if told:
            conn.execute(_ADD_EVENT, told)
        sent.clear()
        told.clear()

    def _delivered(self, channel: str, now: datetime) -> None:
        """Count a send that went out (the health check reads when a person was last reached)."""
        self.sent += 1
        if channel != "log":
            self.last_delivered_at = now

    def _record_other(self, session: Session, res: _Result, now: datetime) -> None:
        """Record a result that is not a plain send: deferred, failed, or reaching only the hub's log."""
        row = session.get(OutboxMessage, res.job.id)
        if row is None:
            return
        if res.deferred_until is not None:
            row.next_attempt_at = res.deferred_until
        elif not res.error and _only_logged(res.channel, row.channel_index, row.purpose):
            row.attempts += 1
            row.status, row.sent_at, row.sent_via = FAILED, now, res.channel
            detail = f"{row.name or row.address}: 所有渠道均失败，仅写入平台日志（{row.last_error}）"
            self.last_undelivered = (now, detail)
            if row.alert_id is not None:
                session.add(AlertEvent(alert_id=row.alert_id, at=now, event="delivery_failed", detail=detail))
                if row.purpose == elder_check.PURPOSE:  # the elder was never asked: page now
                    elder_check.check_failed(session, row.alert_id, reason="询问老人的消息未送达", at=now)
        elif not res.error:
            self._delivered(res.channel, now)
            row.status, row.sent_at, row.sent_via, row.provider_id = SENT, now, res.channel, res.provider_id
            row.attempts += 1
            if provider_failed(row.route, row.provider_status):
                # The provider said it failed before this send was recorded (a call that was busy at
                # once): move on now, as the status would have done a moment later.
                status = STATUS_ZH.get(row.provider_status, row.provider_status)
                reason = f"{res.channel} 回执：{status}"
                fall_back(session, row, now, reason=reason, chain=self.chain(row.route))
            elif (event := _notified(row, res.channel, now)) is not None:
                # Reached only when the provider's status changed between the round's two reads.
                session.add(AlertEvent(**event))
        else:
            row.attempts += 1
            row.last_error = f"{res.channel}: {res.error}"[:2000]
            if res.retryable and row.attempts < self._config.max_attempts:
                backoff = min(self._config.retry_base_s * 2 ** (row.attempts - 1), self._config.retry_max_s)
                row.next_attempt_at = now + timedelta(seconds=backoff)
            else:
                fall_back(session, row, now, reason=res.error, chain=self.chain(row.route))

    # -- sending --------------------------------------------------------------------------------------

    async def _send(self, job: _Job) -> _Result:
        chain = self.chain(job.route)
        name = chain[min(job.channel_index, len(chain) - 1)]
        later = self._limiter.admit(f"{name}:{job.address}", self._clock.now()) if name != "log" else None
        if later is not None:
            return _Result(job, name, deferred_until=later)
        note = Notification(
            job.alert_id or 0,
            job.address,
            job.text,
            job.key,
            outbox_id=job.id,
            kind=job.template,
            params={**json.loads(job.params or "{}"), "text": job.text},
        )
        channel = self._channels[name]
        # The timeout is the provider's time to answer, not the wait for a one-at-a-time channel (a GSM
        # modem): timed from the queue, a burst of SOS sends would time out there and end in the log.
        async with self._slot(name, channel):
            try:
                async with asyncio.timeout(self._config.send_timeout_s):
                    provider_id = await channel.notify(note)
            except NotifyError as exc:
                LOGGER.warning("通知发送失败 %s via %s: %s", job.key, name, exc)
                return _Result(job, name, error=str(exc), retryable=exc.retryable)
            except TimeoutError:
                # A timeout may or may not have sent: fall back (a duplicate beats a missed SOS).
                LOGGER.warning("通知发送超时 %s via %s (%.1f s)", job.key, name, self._config.send_timeout_s)
                return _Result(job, name, error=f"超时 timeout after {self._config.send_timeout_s} s")
        return _Result(job, name, provider_id=provider_id)

    def _slot(self, name: str, channel: Notifier) -> contextlib.AbstractAsyncContextManager[Any]:
        """A place in the channel's queue when it sends one message at a time (`max_concurrent`)."""
        limit = getattr(channel, "max_concurrent", 0)
        if not limit:
            return contextlib.nullcontext()
        if name not in self._slots:
            self._slots[name] = asyncio.Semaphore(limit)
        return self._slots[name]


_OUTBOX = cast(Table, OutboxMessage.__table__)
# What a send needs of a claimed row, in `_Job`'s order.
_JOB = tuple(
    _OUTBOX.c[name]
    for name in (
        "id",
        "alert_id",
        "idempotency_key",
        "purpose",
        "address",
        "route",
        "channel_index",
        "attempts",
        "text",
        "template",
        "params",
    )
)
# What `_record` reads of a round's rows to decide what happened to each.
_DECIDE = tuple(
    _OUTBOX.c[name]
    for name in (
        "id",
        "alert_id",
        "status",
        "channel_index",
        "purpose",
        "route",
        "provider_status",
        "name",
        "address",
        "role",
    )
)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("b_id"))
    .values(
        status=SENT,
        sent_at=bindparam("b_at"),
        sent_via=bindparam("b_via"),
        provider_id=bindparam("b_provider"),
        attempts=_OUTBOX.c.attempts + 1,
    )
)
_ADD_EVENT = insert(cast(Table, AlertEvent.__table__))


def _only_logged(channel: str, channel_index: int, purpose: str) -> bool:
    """Whether a send to the hub's log told nobody: every real channel before it failed (the log is a
    fallback), or a wellbeing check had no channel at all (the elder was never asked). That is a failed
    delivery on the alert's timeline and on /healthz, never "sent"."""
    return channel == "log" and (channel_index > 0 or purpose == elder_check.PURPOSE)


def _notified(row: Any, channel: str, now: datetime) -> dict[str, Any] | None:
    """The "notified" timeline entry of `row` (an outbox row or its columns) sent via `channel`, or None
    when its purpose goes on no timeline."""
    if row.alert_id is None or row.purpose not in NOTIFIED_PURPOSES:
        return None
    detail = notified_detail(row.name or row.address, row.role, row.route, channel, row.purpose)
    return {"alert_id": row.alert_id, "at": now, "event": "notified", "detail": detail}


def _outbox_scope(session: Session, scope: HomeScope | None) -> tuple[ColumnElement[bool], ...]:
    """The condition that keeps an outbox query to `scope`'s homes (and to messages of no alert when it
    does the system's work); none when None. The home is looked up per pending row, as in
    `hub.alerts.escalation`."""
    if scope is None:
        return ()
    home = select(Alert.home_id).where(Alert.id == OutboxMessage.alert_id).scalar_subquery()
    of_homes = among(session, home, scope.home_ids)
    return (or_(of_homes, OutboxMessage.alert_id.is_(None)) if scope.system else of_homes,)


def provider_failed(route: str, status: str) -> bool:
    """Whether a provider's status (Twilio's callback, the modem's call) means the message did not reach
    its recipient: failed or undelivered, or a call that was busy, unanswered or cancelled."""
    return status in ("failed", "undelivered") or (route == "voice" and status in elder_check.UNREACHED)


def fall_back(session: Session, row: OutboxMessage, now: datetime, *, reason: str, chain: list[str]) -> None:
    """Move `row` to the next channel of its chain, or mark it failed when none is left (in the timeline)."""
    current = chain[min(row.channel_index, len(chain) - 1)]
    if row.purpose == elder_check.PURPOSE and row.route == "voice":
        # The wellbeing call did not reach the elder (busy, no answer, failed): no second SMS with the
        # call's text, the chain pages at once instead.
        row.status = FAILED
        row.last_error = f"{current}: {reason}"[:2000]
        if row.alert_id is not None:
            detail = f"{row.name or row.address}: 询问老人的电话未接通（{reason}）"
            session.add(AlertEvent(alert_id=row.alert_id, at=now, event="delivery_failed", detail=detail))
            elder_check.check_failed(session, row.alert_id, reason="老人电话未接通", at=now)
        return
    if row.channel_index + 1 < len(chain):
        row.channel_index += 1
        row.attempts = 0
        row.provider_status = ""  # the next channel's own status comes later
        row.status = PENDING
        row.next_attempt_at = now
        detail = f"{row.name or row.address}: {current} 失败（{reason}），改用 {chain[row.channel_index]}"
        event = "fallback"
    else:
        row.status = FAILED
        detail = f"{row.name or row.address}: 所有渠道均失败（{reason}）"
        event = "delivery_failed"
    row.last_error = f"{current}: {reason}"[:2000]
    if row.alert_id is not None:
        session.add(AlertEvent(alert_id=row.alert_id, at=now, event=event, detail=detail))
