"""Partitioned instances: an assignment per partition lease and a heartbeat row per hub instance.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("cluster_leases", sa.Column("move_to", sa.String(length=128), nullable=True))
    op.create_table(
        "cluster_instances",
        sa.Column("instance", sa.String(length=128), nullable=False),
        sa.Column("prefer", sa.String(length=1024), nullable=False),
        sa.Column("seen_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("instance", name=op.f("pk_cluster_instances")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("cluster_instances")
    op.drop_column("cluster_leases", "move_to")
