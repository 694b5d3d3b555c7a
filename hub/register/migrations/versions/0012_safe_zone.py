"""An elder's safe zone (安全区域): centre, radius and datum, for wearables that report a position.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ALTER TABLE on `elders`, not batch mode: on SQLite batch mode copies the table and drops the old one,
# which would delete the contacts and visits that reference it.
_COLUMNS = ("safe_lat", "safe_lon", "safe_radius_m")


def upgrade() -> None:
    """Upgrade schema."""
    for name in _COLUMNS:
        op.add_column("elders", sa.Column(name, sa.Float(), nullable=True))
    op.add_column(
        "elders", sa.Column("safe_datum", sa.String(length=8), server_default="wgs84", nullable=False)
    )


def downgrade() -> None:
    """Downgrade schema."""
    for name in (*_COLUMNS, "safe_datum"):
        op.drop_column("elders", name)
