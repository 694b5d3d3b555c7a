"""SQLAlchemy tables of the register: homes, elders, contacts, devices, plus the hub's own durable state
(alerts and their timeline, quarantined messages, meter counter state).

The care-register issue completes the 附件2 fields of `Elder`; this is the minimum the pipeline needs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from hub.register.crypto import EncryptedText


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps no zone, so it is stored as naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Always hand back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Named constraints, so that later migrations can drop or alter them (SQLite batch mode needs the names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every register table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Home(Base):
    """A dwelling that is watched; devices belong to a home, elders live in one."""

    __tablename__ = "homes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(255), default="")
    district: Mapped[str] = mapped_column(String(64), default="")  # 区（县）
    street: Mapped[str] = mapped_column(String(64), default="")  # 乡镇（街道）
    community: Mapped[str] = mapped_column(String(64), default="")  # 村（社区）

    elders: Mapped[list[Elder]] = relationship(back_populates="home", cascade="all, delete-orphan")
    devices: Mapped[list[Device]] = relationship(back_populates="home", cascade="all, delete-orphan")


class Elder(Base):
    """A person in the programme: the 附件2 registration form (特殊困难老年人信息登记表).

    The home gives the 居住地址 and the jurisdiction (district → street → village/community); the contacts
    give the 紧急联系人 (role emergency), relatives, designated visitors and the 责任人 (role responsible).
    Household members, help received and consents are tables of hub.care. The 身份证号, the phone and the
    health fields are encrypted at rest (`EncryptedText`); `id_hash` finds an elder by ID number.
    """

    __tablename__ = "elders"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    home_id: Mapped[int] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(8), default="")  # 男 / 女
    phone: Mapped[str] = mapped_column(EncryptedText(), default="")  # 联系电话 (encrypted)
    tier: Mapped[str] = mapped_column(String(16), default="general")  # key = 重点对象, general = 一般对象
    # Whether the elder can answer a wellbeing call (press 1 / reply 1); False skips "ask the elder first".
    can_answer_phone: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # 对象类型, several allowed

    # 一、基本情况
    filed_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # 建档日期
    id_number: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)  # 居民身份证号码
    id_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)  # HMAC of the number
    # 户籍地址: 区（县）/ 乡镇（街道）/ 村（社区）; the 居住地址 is the home's.
    reg_district: Mapped[str] = mapped_column(String(64), default="")
    reg_street: Mapped[str] = mapped_column(String(64), default="")
    reg_community: Mapped[str] = mapped_column(String(64), default="")
    reg_address: Mapped[str] = mapped_column(String(255), default="")
    # 健康状况: 能力程度 (one of the five levels) and 曾患病史 / notes (encrypted).
    ability_level: Mapped[str] = mapped_column(String(16), default="")
    medical_history: Mapped[str] = mapped_column(EncryptedText(), default="")
    ability_notes: Mapped[str] = mapped_column(EncryptedText(), default="")
    # 经济情况: 特困人员 | 低保、低保边缘 | "" ; 月可支配收入 (元); 经济来源.
    economy_status: Mapped[str] = mapped_column(String(16), default="")
    monthly_income: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False), nullable=True)
    income_source: Mapped[str] = mapped_column(String(255), default="")
    disability_cert_no: Mapped[str] = mapped_column(EncryptedText(), default="")  # 残疾证号 (重残)
    # 三、家庭生活条件 (None = not yet assessed).
    water_safe: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # 饮水是否安全
    power_safe: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # 生活用电是否安全
    housing_safe: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # 住房是否安全
    household_income: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False), nullable=True)
    pension_monthly: Mapped[float | None] = mapped_column(  # 养老保险每月…元; None = 无养老保险
        Numeric(12, 2, asdecimal=False), nullable=True
    )
    subsidy_items: Mapped[str] = mapped_column(String(255), default="")  # 社会救助和社会福利补贴项目
    subsidy_monthly: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False), nullable=True)
    # Half-year review: when the record was last checked (建档 or 复核); None = never.
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # 安全区域: a circle around where the elder lives her day (centre in degrees, radius in metres) in the
    # datum of the wearable's positions (wgs84 | gcj02); None = no safe zone.
    safe_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    safe_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    safe_radius_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    safe_datum: Mapped[str] = mapped_column(String(8), default="wgs84", server_default="wgs84")

    home: Mapped[Home] = relationship(back_populates="elders")
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="elder", cascade="all, delete-orphan", order_by="Contact.priority"
    )


class Contact(Base):
    """Someone to reach for an elder: visitor, relative, emergency contact or responsible person."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("elder_id", "name", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # visitor | relative | emergency | responsible
    relation: Mapped[str] = mapped_column(String(32), default="")  # 亲属关系
    phone: Mapped[str] = mapped_column(String(32), default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)

    elder: Mapped[Elder] = relationship(back_populates="contacts")


class Device(Base):
    """A device bound to a home by its ecosystem and external id."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("ecosystem", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    home_id: Mapped[int] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    ecosystem: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # sha256 hex of the HTTP ingest token; the token itself is never stored.
    # Unique: one token opens exactly one device (NULLs, devices without a token, are not compared).
    token_sha256: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)

    home: Mapped[Home] = relationship(back_populates="devices")


class Alert(Base):
    """An alert: one active per home and kind (`active_key`), repeats counted on it."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[int] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    alert_class: Mapped[str] = mapped_column(String(16), default="elder")  # elder | device | notice
    # The rule allows asking the elder first (AlertCandidate.check_first); the escalation reads it.
    check_first: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The outcome code of a resolved alert (hub.alerts.outcomes: elder_ok, visit_ok, real_danger,
    # device_fault, other); empty while open or when cancelled.
    outcome: Mapped[str] = mapped_column(String(16), default="", server_default="")
    state: Mapped[str] = mapped_column(String(16))
    # "<home code>/<kind>" while the alert is active, NULL once closed: a unique index that allows many
    # closed alerts but only one active one per home and kind, on SQLite and PostgreSQL alike.
    active_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    device_code: Mapped[str] = mapped_column(String(64), default="")
    explanation: Mapped[str] = mapped_column(Text, default="")
    count: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    home: Mapped[Home] = relationship()
    events: Mapped[list[AlertEvent]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", order_by="AlertEvent.id"
    )


class RuleAdjustment(Base):
    """A rule's threshold factor for one home, changed after repeated false alarms (or by staff).

    The factor multiplies the silence (or shortfall) a rule waits for before it raises, for that home and
    alert kind; the rules read the effective factor (`hub.register.adjustments.current_factors`) at every
    refresh and never wait beyond the tier's hard window. Rows are never deleted: a revert stamps
    `reverted_at`, and the effective factor is that of the newest row not reverted (1.0 without one).
    """

    __tablename__ = "rule_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    home_id: Mapped[int] = mapped_column(ForeignKey("homes.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    factor: Mapped[float] = mapped_column(Float)
    previous: Mapped[float] = mapped_column(Float, default=1.0)
    reason: Mapped[str] = mapped_column(String(255), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(64), default="")
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reverted_by: Mapped[str] = mapped_column(String(64), default="")


class AlertEvent(Base):
    """One entry of an alert's timeline (opened, repeated, notified, state changes)."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")

    alert: Mapped[Alert] = relationship(back_populates="events")


class QuarantinedMessage(Base):
    """A message the hub could not turn into readings, kept with the reason.

    `payload` is the first `hub.ingest.quarantine.KEEP_BYTES` of what was received; `payload_size` and
    `payload_sha256` describe the whole of it (a 5 MB payload is not kept whole, but it is still told).
    """

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    payload_size: Mapped[int] = mapped_column(Integer, server_default="0")
    payload_sha256: Mapped[str] = mapped_column(String(64), server_default="")


class CounterState(Base):
    """Per device and signal: the last raw cumulative value and the offset added after resets."""

    __tablename__ = "counter_state"

    device_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    signal: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_raw: Mapped[float] = mapped_column(Float)
    offset: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
