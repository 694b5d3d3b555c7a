"""Register tables owned by hub.alerts: the street on-call rota, escalation timers and the delivery outbox.

They live in the register (imported by hub.register.schema) so that an alert, its escalation and its first
notifications are written in one transaction, and a restart finds every timer and unsent message again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.register.models import Base, UTCDateTime


class OnCallShift(Base):
    """One window of the street on-call rota (街道值班): who answers for a street on which days and hours.

    `weekdays` holds ISO weekday digits ("1234567" = every day, Monday = 1); `start`/`end` are local
    "HH:MM" times, and a window whose end is not after its start runs over midnight.
    """

    __tablename__ = "alert_oncall"

    id: Mapped[int] = mapped_column(primary_key=True)
    street: Mapped[str] = mapped_column(String(64), index=True)
    weekdays: Mapped[str] = mapped_column(String(7), default="1234567")
    start: Mapped[str] = mapped_column(String(5), default="00:00")
    end: Mapped[str] = mapped_column(String(5), default="00:00")
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32))


class Escalation(Base):
    """The escalation of one alert: which step of which policy, and when the next thing is due.

    `due_at` is the persisted timer: NULL when nothing is pending (stopped), otherwise the worker acts at
    that time (next step, ring the duty line again once the chain is exhausted, or resume because the
    responder recorded no outcome). `renotify_at` is a second timer: a repeated press (SOS) waits there
    for the worker to notify again, without disturbing the step timer.
    """

    __tablename__ = "alert_escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), unique=True)
    policy: Mapped[str] = mapped_column(String(32))
    step: Mapped[int] = mapped_column(Integer, default=0)  # index of the last step sent
    round: Mapped[int] = mapped_column(Integer, default=0)  # repeats of the whole chain done
    # new | waiting | accepted | exhausted (the chain ran out: the duty line is rung) | stopped
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    responder: Mapped[str] = mapped_column(String(64), default="")
    # How long an accepted alert may wait for an outcome before escalation resumes.
    outcome_wait_s: Mapped[int] = mapped_column(Integer, default=1800)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    renotify_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    # What the board says about the escalation's phase (e.g. 无人接单·已升级区值班); empty when nothing to say.
    note: Mapped[str] = mapped_column(String(64), default="")


class OutboxMessage(Base):
    """A notification written before it is sent; the worker delivers it at least once.

    `route` names a fallback chain of channels from the config (sms → twilio_sms, gsm_sms, log);
    `channel_index` is the position in that chain now in use.
    `idempotency_key` is unique: re-creating the same message (a replayed step) is a no-op.
    """

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True, nullable=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))  # act | fyi | reply | info
    role: Mapped[str] = mapped_column(String(16), default="")  # visitor, relative, street, …
    name: Mapped[str] = mapped_column(String(64), default="")
    address: Mapped[str] = mapped_column(String(255))  # phone number or robot name
    route: Mapped[str] = mapped_column(String(16))  # sms | voice | robot
    channel_index: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    # The message kind (hub.alerts.templates.MESSAGE_KINDS) and its named values as JSON, for channels
    # that only send pre-approved templates; "" for rows queued before these existed.
    template: Mapped[str] = mapped_column(String(16), default="", server_default="")
    params: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | sent | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_via: Mapped[str] = mapped_column(String(32), default="")
    provider_id: Mapped[str] = mapped_column(String(64), default="", index=True)  # e.g. Twilio SID
    provider_status: Mapped[str] = mapped_column(String(32), default="")  # from status callbacks
    last_error: Mapped[str] = mapped_column(Text, default="")
