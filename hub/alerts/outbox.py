"""The durable outbox: notification rows written (inside the caller's transaction) before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hub.alerts.messages import AlertFacts
from hub.alerts.tables import OutboxMessage
from hub.register.models import Alert, Elder, Home

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"


def enqueue(
    session: Session,
    *,
    alert_id: int | None,
    key: str,
    purpose: str,
    role: str,
    name: str,
    address: str,
    route: str,
    text: str,
    at: datetime,
    not_before: datetime | None = None,
    template: str = "",
    params: Mapping[str, str] | None = None,
) -> bool:
    """Add one message unless one with the same idempotency key exists; True when added.

    `template` is its message kind and `params` its named values (hub.alerts.templates), which template
    channels (Aliyun, Tencent) send instead of `text`.
    """
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)) is not None:
        return False
    # A Core insert, not an ORM object and a flush: a burst of alerts queues hundreds of these in one
    # transaction, and a unit-of-work flush per message cost milliseconds each.
    session.execute(
        _INSERT,
        {
            "alert_id": alert_id,
            "idempotency_key": key,
            "purpose": purpose,
            "role": role,
            "name": name,
            "address": address,
            "route": route,
            "channel_index": 0,
            "text": text,
            "template": template,
            "params": json.dumps(dict(params or {}), ensure_ascii=False),
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": not_before or at,
            "created_at": at,
            "sent_via": "",
            "provider_id": "",
            "provider_status": "",
            "last_error": "",
        },
    )
    return True


_INSERT = insert(OutboxMessage)


def cancel_pending(session: Session, alert_id: int, purposes: tuple[str, ...] = ("act",)) -> int:
    """Withdraw the alert's unsent messages of `purposes` (someone accepted; nobody else needs asking)."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.alert_id == alert_id,
            OutboxMessage.status == PENDING,
            OutboxMessage.purpose.in_(purposes),
        )
        .values(status=CANCELLED)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def facts_for(session: Session, alert: Alert) -> AlertFacts:
    """What the messages say about `alert`: the elders' names and the home's address."""
    home = session.get(Home, alert.home_id)
    names = session.scalars(select(Elder.name).where(Elder.home_id == alert.home_id).order_by(Elder.id)).all()
    return AlertFacts(
        alert_id=alert.id,
        kind=alert.kind,
        elder="、".join(names) or (home.code if home else ""),
        address=(home.address or home.code) if home else "",
        at=alert.opened_at,
        explanation=alert.explanation,
    )


def normalise_phone(phone: str) -> str:
    """Digits only, without China's +86 prefix: "+86 139-0000-0001" and "13900000001" compare equal."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits
