"""Ask the elder first: whether an alert allows it, and whether an elder can answer the phone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("check_first", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("elders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("can_answer_phone", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("elders", schema=None) as batch_op:
        batch_op.drop_column("can_answer_phone")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("check_first")
