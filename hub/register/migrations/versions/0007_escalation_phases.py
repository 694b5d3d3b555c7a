"""Escalation phases: a pending re-notification for a repeated press, and a note for the board.

Escalations that an older hub stopped while their alert is still active (its chain ran out, or it found
nobody) were silent for good; they become exhausted and overdue, so the first look rings the duty line.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("alert_escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("renotify_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("note", sa.String(length=64), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_alert_escalations_renotify_at"), ["renotify_at"], unique=False)
    op.execute(
        "UPDATE alert_escalations SET status = 'exhausted', due_at = updated_at"
        " WHERE status = 'stopped' AND alert_id IN (SELECT id FROM alerts WHERE active_key IS NOT NULL)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("alert_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_escalations_renotify_at"))
        batch_op.drop_column("note")
        batch_op.drop_column("renotify_at")
