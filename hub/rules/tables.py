"""Register tables owned by hub.rules (imported by hub.register.schema so migrations see them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.register.models import Base, UTCDateTime


class RuleState(Base):
    """The rules engine's snapshot of one home (compact JSON), written periodically and at shutdown."""

    __tablename__ = "rule_state"

    home_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Absence(Base):
    """An absence calendar entry: the elder is away (hospital, staying with family) from start to end."""

    __tablename__ = "rule_absences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    home_code: Mapped[str] = mapped_column(String(64), index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CareMode(Base):
    """An extreme-weather or festival mode for the district or one street: windows × `factor` from start to end."""

    __tablename__ = "rule_modes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # weather | festival
    scope: Mapped[str] = mapped_column(String(16))  # district | street
    street: Mapped[str] = mapped_column(String(64), default="")  # the 乡镇（街道） when scope = street
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    factor: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
