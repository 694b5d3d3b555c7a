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


# Plain ALTER TABLE, not batch mode: on SQLite batch mode copies the table and drops the old one, and
# dropping `alerts` or `elders` deletes every row that references them (timelines, escalations, contacts).


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("alerts", sa.Column("check_first", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column(
        "elders", sa.Column("can_answer_phone", sa.Boolean(), server_default=sa.true(), nullable=False)
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("elders", "can_answer_phone")
    op.drop_column("alerts", "check_first")
