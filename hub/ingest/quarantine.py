"""Reading back quarantined messages (for `eldercare-hub quarantine list` and the API)."""

from __future__ import annotations

import base64

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.register.models import QuarantinedMessage


def payload_text(payload: bytes) -> str:
    """UTF-8 text as is; anything else as ``b64:…`` (the replay format)."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return "b64:" + base64.b64encode(payload).decode("ascii")


def list_quarantine(session: Session, limit: int = 100) -> list[dict[str, object]]:
    """Newest quarantined messages first."""
    rows = session.scalars(
        select(QuarantinedMessage).order_by(QuarantinedMessage.id.desc()).limit(limit)
    ).all()
    return [
        {
            "id": q.id,
            "received_at": q.received_at.isoformat(),
            "source": q.source,
            "topic": q.topic,
            "payload": payload_text(q.payload),
            "reason": q.reason,
        }
        for q in rows
    ]


def count_quarantine(session: Session) -> int:
    """How many messages are in quarantine."""
    return int(session.scalar(select(func.count(QuarantinedMessage.id))) or 0)
