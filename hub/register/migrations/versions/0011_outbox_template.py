"""The outbox carries each message's kind and named values, for template-only channels (Aliyun, Tencent).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE ADD COLUMN (no batch mode): rows queued before the upgrade keep their free text and get
# an empty kind, which a template channel refuses as permanent so the chain falls back to a free-text one.


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "alert_outbox", sa.Column("template", sa.String(length=16), server_default="", nullable=False)
    )
    op.add_column("alert_outbox", sa.Column("params", sa.Text(), server_default="{}", nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("alert_outbox", "params")
    op.drop_column("alert_outbox", "template")
