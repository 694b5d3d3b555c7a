"""Ask the elder first: a wellbeing call and SMS to the elder's own phone before anyone is paged.

A telecare centre calls the elder before it sends anyone. An alert whose rule allows it (`check_first`)
for an elder who can answer the phone begins with a `checking` escalation: a zh-CN call ("平安请按1") and an
SMS ("如平安请回复1") to the elder. Pressing or replying 1 resolves the alert as 老人自报平安 and nobody
else is paged. Any other key or reply, a busy line, an unanswered or failed call, or a check that could not
be delivered at all ends the check at once (`check_failed`, due now); silence until the wait runs out ends
it at the timer. Either way the worker then pages the chain's first step as usual. The state is the
escalation row, so a restarted hub carries on where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts import lifecycle
from hub.alerts.model import ACTIVE_STATES
from hub.alerts.outbox import normalise_phone
from hub.alerts.outcomes import ELDER_OK
from hub.alerts.settings import TightenConfig
from hub.alerts.tables import Escalation, OutboxMessage
from hub.register.models import Alert, AlertEvent

# Escalation status while the elder is being asked, and once the check ended without "I am fine".
CHECKING = "checking"
CHECK_FAILED = "check_failed"
# Outbox purpose of the messages to the elder.
PURPOSE = "check"
# Call states (Twilio's status callback) meaning the elder was not reached.
UNREACHED = frozenset({"busy", "no-answer", "failed", "canceled"})


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    """What the elder's answer did: the alerts it settled, whether they said they are fine, the reply."""

    alert_ids: tuple[int, ...]
    safe: bool
    answer: str


def pending_checks(session: Session, phone: str) -> dict[int, str]:
    """Active alerts now asking the elder at `phone` (any format of the number): id → elder's name."""
    want = normalise_phone(phone)
    rows = session.execute(
        select(OutboxMessage.alert_id, OutboxMessage.address, OutboxMessage.name)
        .join(Alert, Alert.id == OutboxMessage.alert_id)
        .join(Escalation, Escalation.alert_id == Alert.id)
        .where(
            OutboxMessage.purpose == PURPOSE,
            Escalation.status == CHECKING,
            Alert.state.in_([str(s) for s in ACTIVE_STATES]),
        )
    ).all()
    return {aid: name for aid, addr, name in rows if aid is not None and normalise_phone(addr) == want}


def late_answer(session: Session, phone: str, body: str, *, via: str, at: datetime) -> CheckAnswer | None:
    """An elder answering after their check ended (the visitor is already paged): kept on the timeline of
    every active alert that asked them, so the people on their way see it; None if `phone` was not asked."""
    want = normalise_phone(phone)
    rows = session.execute(
        select(OutboxMessage.alert_id, OutboxMessage.address)
        .join(Alert, Alert.id == OutboxMessage.alert_id)
        .where(OutboxMessage.purpose == PURPOSE, Alert.state.in_([str(s) for s in ACTIVE_STATES]))
    ).all()
    ids = tuple(sorted({aid for aid, addr in rows if aid is not None and normalise_phone(addr) == want}))
    if not ids:
        return None
    for alert_id in ids:
        detail = f"询问结束后老人经{via}回复“{body.strip()[:20]}”，探访联系人仍须确认"
        session.add(AlertEvent(alert_id=alert_id, at=at, event="elder_late_reply", detail=detail))
    return CheckAnswer(ids, False, "已收到您的回复。探访联系人已在联系您，请保持电话畅通。")


def answer(
    session: Session,
    checks: dict[int, str],
    key: str,
    *,
    via: str,
    at: datetime,
    tighten: TightenConfig | None = None,
) -> CheckAnswer:
    """The elder answered the checks with `key` ("1" = I am fine; anything else = send someone)."""
    ids = tuple(sorted(checks))
    if key.strip().rstrip("。.!！") == "1":
        for alert_id in ids:
            elder_safe(session, alert_id, by=checks[alert_id] or "老人", via=via, at=at, tighten=tighten)
        return CheckAnswer(ids, True, "谢谢您，已记录您平安。如需帮助，请随时按紧急按钮。")
    for alert_id in ids:
        check_failed(session, alert_id, reason=f"老人经{via}答复“{key.strip()[:20]}”（非1）", at=at)
    return CheckAnswer(ids, False, "已收到，我们马上通知探访联系人与您联系。")


def elder_safe(
    session: Session, alert_id: int, *, by: str, via: str, at: datetime, tighten: TightenConfig | None = None
) -> None:
    """The elder said they are fine: the alert resolves as 老人自报平安 and nobody else is paged."""
    lifecycle.resolve(
        session,
        alert_id,
        by=by,
        outcome=ELDER_OK,
        notes=f"经{via}",
        at=at,
        tell_family=False,
        tighten=tighten,
    )


def check_failed(session: Session, alert_id: int, *, reason: str, at: datetime) -> bool:
    """The check ended without "I am fine": the chain pages at once (worker). False if not checking."""
    esc = session.scalar(select(Escalation).where(Escalation.alert_id == alert_id))
    if esc is None or esc.status != CHECKING:
        return False
    esc.status, esc.due_at, esc.updated_at = CHECK_FAILED, at, at
    session.add(
        AlertEvent(
            alert_id=alert_id, at=at, event="elder_check_failed", detail=f"{reason}，立即通知探访联系人"
        )
    )
    session.flush()
    return True
