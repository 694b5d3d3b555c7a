"""Outcomes of resolved alerts as codes, and per-home rule adjustments after repeated false alarms.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE on `alerts`, not batch mode: on SQLite batch mode copies the table and drops the old one,
# which deletes every timeline and escalation row that references it.


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("alerts", sa.Column("outcome", sa.String(length=16), server_default="", nullable=False))
    op.create_table(
        "rule_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("home_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("factor", sa.Float(), nullable=False),
        sa.Column("previous", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["home_id"], ["homes.id"], name=op.f("fk_rule_adjustments_home_id_homes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_adjustments")),
    )
    op.create_index(op.f("ix_rule_adjustments_home_id"), "rule_adjustments", ["home_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_rule_adjustments_home_id"), table_name="rule_adjustments")
    op.drop_table("rule_adjustments")
    op.drop_column("alerts", "outcome")
