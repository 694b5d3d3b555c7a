"""The durable outbox: notification rows written (inside the caller's transaction) before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from hub.alerts.messages import AlertFacts
from hub.alerts.tables import OutboxMessage
from hub.register.models import Alert, Elder, Home

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Entry:
    """One message to queue. `key` is its idempotency key; `template` its message kind and `params` its
    named values (hub.alerts.templates), which template channels (Aliyun, Tencent) send instead of `text`."""

    alert_id: int | None
    key: str
    purpose: str
    role: str
    name: str
    address: str
    route: str
    text: str
    at: datetime
    not_before: datetime | None = None
    template: str = ""
    params: Mapping[str, str] | None = None


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
    """Add one message unless one with the same idempotency key exists; True when added."""
    entry = Entry(alert_id, key, purpose, role, name, address, route, text, at, not_before, template, params)
    return enqueue_all(session, [entry]) == 1


def enqueue_all(session: Session, entries: Sequence[Entry]) -> int:
    """Add each message whose idempotency key is not in the outbox yet (the first of a key repeated in
    `entries` wins); how many were added.

    One query for the keys and one insert for the rows, whatever their number: a step that pages three
    people by SMS and voice, and the robot, is seven messages, and a burst of alerts is hundreds of them in
    one transaction, where a query and an insert per message cost milliseconds per alert."""
    if not entries:
        return 0
    # The outbox is only ever written with Core statements, which run at once: nothing the session holds
    # unflushed can be an outbox row, so neither the key query nor the insert needs a flush first (the
    # escalator flushes what it changed once for a whole claim). Both go to the session's connection as
    # table statements: the ORM's layer (its execution context, its bulk insert of mapped rows) cost more
    # CPU than the database's work for these plain rows.
    conn = session.connection()
    seen = set(conn.scalars(select(_KEY).where(_KEY.in_({e.key for e in entries}))))
    rows = []
    for e in entries:
        if e.key in seen:
            continue
        seen.add(e.key)
        rows.append(
            {
                "alert_id": e.alert_id,
                "idempotency_key": e.key,
                "purpose": e.purpose,
                "role": e.role,
                "name": e.name,
                "address": e.address,
                "route": e.route,
                "channel_index": 0,
                "text": e.text,
                "template": e.template,
                "params": json.dumps(dict(e.params or {}), ensure_ascii=False),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": e.not_before or e.at,
                "created_at": e.at,
                "sent_via": "",
                "provider_id": "",
                "provider_status": "",
                "last_error": "",
            }
        )
    if rows:
        # A Core insert of plain rows, not ORM objects and a flush: a unit-of-work flush per message cost
        # milliseconds each.
        conn.execute(_INSERT, rows)
    return len(rows)


_TABLE = cast(Table, OutboxMessage.__table__)
_KEY = _TABLE.c.idempotency_key
_INSERT = insert(_TABLE)


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
    rows = session.execute(
        select(Home.code, Home.address, Elder.name)
        .outerjoin(Elder, Elder.home_id == Home.id)
        .where(Home.id == alert.home_id)
        .order_by(Elder.id)
    ).all()
    code, address = (rows[0].code, rows[0].address) if rows else ("", "")
    return facts_of(alert, code, address, [r.name for r in rows if r.name is not None])


def facts_of(alert: Alert, code: str, address: str, names: Sequence[str]) -> AlertFacts:
    """`facts_for` from what the caller already read: the home's code and address, its elders' names."""
    return AlertFacts(
        alert_id=alert.id,
        kind=alert.kind,
        elder="、".join(names) or code,
        address=address or code,
        at=alert.opened_at,
        explanation=alert.explanation,
    )


def normalise_phone(phone: str) -> str:
    """Digits only, without China's +86 prefix: "+86 139-0000-0001" and "13900000001" compare equal."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits
