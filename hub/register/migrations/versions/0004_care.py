"""Tables of the care programme (附件1-3): the 附件2 columns of elders (phone now encrypted), household
members, help received, consents, visit records, care services, visit tasks and their events, audit.

Existing plaintext phone numbers are encrypted in place with the data key (`hub.register.crypto`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.register.crypto import decrypt, encrypt

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MONEY = sa.Numeric(12, 2, asdecimal=False)


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("elders") as batch:
        batch.alter_column(
            "phone", existing_type=sa.String(length=32), type_=sa.Text(), existing_nullable=False
        )
        batch.add_column(sa.Column("filed_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("id_number", sa.Text(), nullable=True))
        batch.add_column(sa.Column("id_hash", sa.String(length=64), nullable=True))
        for name, length in (("reg_district", 64), ("reg_street", 64), ("reg_community", 64)):
            batch.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=""))
        batch.add_column(sa.Column("reg_address", sa.String(length=255), nullable=False, server_default=""))
        batch.add_column(sa.Column("ability_level", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("medical_history", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("ability_notes", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("economy_status", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("monthly_income", _MONEY, nullable=True))
        batch.add_column(sa.Column("income_source", sa.String(length=255), nullable=False, server_default=""))
        batch.add_column(sa.Column("disability_cert_no", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("water_safe", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("power_safe", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("housing_safe", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("household_income", _MONEY, nullable=True))
        batch.add_column(sa.Column("pension_monthly", _MONEY, nullable=True))
        batch.add_column(sa.Column("subsidy_items", sa.String(length=255), nullable=False, server_default=""))
        batch.add_column(sa.Column("subsidy_monthly", _MONEY, nullable=True))
        batch.add_column(sa.Column("reviewed_at", _utc(), nullable=True))
        batch.create_unique_constraint(batch.f("uq_elders_id_hash"), ["id_hash"])
    # The model has no server defaults (the ORM fills them); drop them again so both agree.
    with op.batch_alter_table("elders") as batch:
        for name in (
            "reg_district",
            "reg_street",
            "reg_community",
            "reg_address",
            "ability_level",
            "medical_history",
            "ability_notes",
            "economy_status",
            "income_source",
            "disability_cert_no",
            "subsidy_items",
        ):
            batch.alter_column(name, server_default=None)
    _encrypt_existing_fields()

    op.create_table(
        "care_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_audit")),
    )
    op.create_table(
        "care_household_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elder_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("health", sa.Text(), nullable=False),
        sa.Column("on_assistance", sa.Boolean(), nullable=False),
        sa.Column("visits_often", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["elder_id"],
            ["elders.id"],
            name=op.f("fk_care_household_members_elder_id_elders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_household_members")),
        sa.UniqueConstraint("elder_id", "seq", name=op.f("uq_care_household_members_elder_id_seq")),
    )
    op.create_index(
        op.f("ix_care_household_members_elder_id"), "care_household_members", ["elder_id"], unique=False
    )
    op.create_table(
        "care_help_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elder_id", sa.Integer(), nullable=False),
        sa.Column("unit_type", sa.String(length=32), nullable=False),
        sa.Column("unit_name", sa.String(length=128), nullable=False),
        sa.Column("responsible", sa.String(length=64), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("worker_signature", sa.String(length=64), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["elder_id"], ["elders.id"], name=op.f("fk_care_help_records_elder_id_elders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_help_records")),
    )
    op.create_index(op.f("ix_care_help_records_elder_id"), "care_help_records", ["elder_id"], unique=False)
    op.create_table(
        "care_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elder_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["elder_id"], ["elders.id"], name=op.f("fk_care_consents_elder_id_elders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_consents")),
    )
    op.create_index(op.f("ix_care_consents_elder_id"), "care_consents", ["elder_id"], unique=False)
    op.create_table(
        "care_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elder_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("visited_at", _utc(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("household_change", sa.String(length=8), nullable=False),
        sa.Column("household_delta", sa.Integer(), nullable=False),
        sa.Column("expression", sa.String(length=8), nullable=False),
        sa.Column("mobility", sa.String(length=8), nullable=False),
        sa.Column("illness", sa.String(length=8), nullable=False),
        sa.Column("illness_name", sa.Text(), nullable=False),
        sa.Column("mood", sa.String(length=8), nullable=False),
        sa.Column("gas_safety", sa.String(length=8), nullable=False),
        sa.Column("water_heating_safety", sa.String(length=8), nullable=False),
        sa.Column("power_safety", sa.String(length=8), nullable=False),
        sa.Column("personal_hygiene", sa.String(length=8), nullable=False),
        sa.Column("home_hygiene", sa.String(length=8), nullable=False),
        sa.Column("indoor_environment", sa.String(length=8), nullable=False),
        sa.Column("needs", sa.Text(), nullable=False),
        sa.Column("suggestions", sa.Text(), nullable=False),
        sa.Column("problems_solved", sa.Integer(), nullable=False),
        sa.Column("visitor_name", sa.String(length=64), nullable=False),
        sa.Column("visitor_signed_at", _utc(), nullable=True),
        sa.Column("elder_signature", sa.String(length=64), nullable=False),
        sa.Column("elder_signed_at", _utc(), nullable=True),
        sa.Column("clerk_name", sa.String(length=64), nullable=False),
        sa.Column("clerk_signed_at", _utc(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_care_visits_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["elder_id"], ["elders.id"], name=op.f("fk_care_visits_elder_id_elders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_visits")),
        sa.UniqueConstraint("elder_id", "seq", name=op.f("uq_care_visits_elder_id_seq")),
    )
    op.create_index(op.f("ix_care_visits_elder_id"), "care_visits", ["elder_id"], unique=False)
    op.create_index(op.f("ix_care_visits_visited_at"), "care_visits", ["visited_at"], unique=False)
    op.create_table(
        "care_services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elder_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("served_on", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("worker_signature", sa.String(length=128), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("satisfaction", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["elder_id"], ["elders.id"], name=op.f("fk_care_services_elder_id_elders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["care_visits.id"],
            name=op.f("fk_care_services_visit_id_care_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_services")),
        sa.UniqueConstraint("elder_id", "seq", name=op.f("uq_care_services_elder_id_seq")),
    )
    op.create_index(op.f("ix_care_services_elder_id"), "care_services", ["elder_id"], unique=False)
    op.create_index(op.f("ix_care_services_visit_id"), "care_services", ["visit_id"], unique=False)
    op.create_table(
        "care_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("elder_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("dedup_key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=False),
        sa.Column("period_start", _utc(), nullable=True),
        sa.Column("due_at", _utc(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("closed_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_care_tasks_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["elder_id"], ["elders.id"], name=op.f("fk_care_tasks_elder_id_elders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["care_visits.id"],
            name=op.f("fk_care_tasks_visit_id_care_visits"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_tasks")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_care_tasks_dedup_key")),
    )
    op.create_index(op.f("ix_care_tasks_elder_id"), "care_tasks", ["elder_id"], unique=False)
    op.create_index(op.f("ix_care_tasks_state"), "care_tasks", ["state"], unique=False)
    op.create_table(
        "care_task_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["care_tasks.id"],
            name=op.f("fk_care_task_events_task_id_care_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_task_events")),
    )
    op.create_index(op.f("ix_care_task_events_task_id"), "care_task_events", ["task_id"], unique=False)


def _encrypt_existing_fields() -> None:
    """Encrypt the phone numbers stored in plain text before this revision."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, phone FROM elders")).all()
    for elder_id, phone in rows:
        if phone is not None and not str(phone).startswith("v1:"):
            conn.execute(
                sa.text("UPDATE elders SET phone = :p WHERE id = :i"),
                {"p": encrypt(str(phone)), "i": elder_id},
            )


def downgrade() -> None:
    """Downgrade schema (phone numbers are decrypted back to plain text)."""
    for table in (
        "care_task_events",
        "care_tasks",
        "care_services",
        "care_visits",
        "care_consents",
        "care_help_records",
        "care_household_members",
        "care_audit",
    ):
        op.drop_table(table)
    conn = op.get_bind()
    for elder_id, phone in conn.execute(sa.text("SELECT id, phone FROM elders")).all():
        if phone is not None and str(phone).startswith("v1:"):
            conn.execute(
                sa.text("UPDATE elders SET phone = :p WHERE id = :i"), {"p": decrypt(phone), "i": elder_id}
            )
    with op.batch_alter_table("elders") as batch:
        batch.drop_constraint("uq_elders_id_hash", type_="unique")
        for name in (
            "filed_on",
            "id_number",
            "id_hash",
            "reg_district",
            "reg_street",
            "reg_community",
            "reg_address",
            "ability_level",
            "medical_history",
            "ability_notes",
            "economy_status",
            "monthly_income",
            "income_source",
            "disability_cert_no",
            "water_safe",
            "power_safe",
            "housing_safe",
            "household_income",
            "pension_monthly",
            "subsidy_items",
            "subsidy_monthly",
            "reviewed_at",
        ):
            batch.drop_column(name)
        batch.alter_column(
            "phone", existing_type=sa.Text(), type_=sa.String(length=32), existing_nullable=False
        )
