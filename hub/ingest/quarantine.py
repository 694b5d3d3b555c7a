"""Quarantined messages: what is kept of them, and reading them back (`eldercare-hub quarantine list`, the API).

A hostile or broken sender can publish megabytes; the register keeps the first `KEEP_BYTES` with the
size and SHA-256 of the whole payload, so nothing is silently dropped and nothing floods the database.
Lists are paged newest first (``before`` = the last id of the previous page) and show a `PREVIEW_BYTES`
prefix; `truncated` says when what is shown is not the whole payload.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models import RawMessage
from hub.register.models import QuarantinedMessage

KEEP_BYTES = 64 * 1024  # of each payload, in the register
PREVIEW_BYTES = 4 * 1024  # of each payload, in a list
DEFAULT_PAGE = 50
MAX_PAGE = 500


def quarantine_row(message: RawMessage, reason: str) -> dict[str, Any]:
    """The register row of a quarantined message: a prefix of the payload, its whole size and hash."""
    payload = message.payload
    return {
        "received_at": message.received_at,
        "source": message.source,
        "topic": message.topic[:512],
        "payload": payload[:KEEP_BYTES],
        "payload_size": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "reason": reason,
    }


def payload_text(payload: bytes, *, cut: bool = False) -> str:
    """UTF-8 text as is; anything else as ``b64:…`` (the replay format).

    With `cut`, `payload` is a prefix: a multi-byte character split at its end is dropped, not taken as
    binary.
    """
    for trim in range(4 if cut else 1):
        try:
            return payload[: len(payload) - trim].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return "b64:" + base64.b64encode(payload).decode("ascii")


def list_quarantine(
    session: Session, limit: int = DEFAULT_PAGE, before: int | None = None
) -> list[dict[str, object]]:
    """Up to `limit` quarantined messages, newest first; `before` continues after a previous page's last id.

    Callers bound `limit` (`MAX_PAGE`, one more to learn whether a next page exists).
    """
    stmt = select(QuarantinedMessage).order_by(QuarantinedMessage.id.desc())
    if before is not None:
        stmt = stmt.where(QuarantinedMessage.id < min(before, 2**31))  # ids are 32-bit integers
    rows = session.scalars(stmt.limit(max(1, limit))).all()
    out: list[dict[str, object]] = []
    for q in rows:
        size = q.payload_size or len(q.payload)
        shown = q.payload[:PREVIEW_BYTES]
        out.append(
            {
                "id": q.id,
                "received_at": q.received_at.isoformat(),
                "source": q.source,
                "topic": q.topic,
                "payload": payload_text(shown, cut=len(shown) < size),
                "size": size,
                "sha256": q.payload_sha256,
                "truncated": len(shown) < size,
                "reason": q.reason,
            }
        )
    return out


def count_quarantine(session: Session) -> int:
    """How many messages are in quarantine."""
    return int(session.scalar(select(func.count(QuarantinedMessage.id))) or 0)
