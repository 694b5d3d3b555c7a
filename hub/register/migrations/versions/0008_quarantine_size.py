"""Quarantine keeps a prefix of a large payload, with the full size and SHA-256 of what was received.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload_size", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("payload_sha256", sa.String(length=64), server_default="", nullable=False)
        )
    # Rows from before were kept whole: their size is their length.
    op.execute("UPDATE quarantine SET payload_size = length(payload)")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_column("payload_sha256")
        batch_op.drop_column("payload_size")
