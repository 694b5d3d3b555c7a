"""Register tables owned by hub.care (imported by hub.register.schema so migrations see them).

附件2 parts that repeat per elder (household members, help received), consents, 附件3 visit records and
care services, visit tasks with their timeline, and the audit of unmasked exports. Health fields and ID
numbers are `EncryptedText`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.register.crypto import EncryptedText
from hub.register.models import Base, Elder, UTCDateTime


class HouseholdMember(Base):
    """附件2 二、家庭基本情况: one member of the elder's household (seq 1 = 户主)."""

    __tablename__ = "care_household_members"
    __table_args__ = (UniqueConstraint("elder_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(8), default="")
    id_number: Mapped[str | None] = mapped_column(EncryptedText(), nullable=True)
    relation: Mapped[str] = mapped_column(String(32), default="")  # 与户主关系
    health: Mapped[str] = mapped_column(EncryptedText(), default="")  # 健康状况
    on_assistance: Mapped[bool] = mapped_column(Boolean, default=False)  # 是否为低保对象/特困人员
    visits_often: Mapped[bool] = mapped_column(Boolean, default=False)  # 是否经常探访

    elder: Mapped[Elder] = relationship()


class HelpRecord(Base):
    """附件2 四、已享受帮扶情况: who helps, how, signed by which worker and when."""

    __tablename__ = "care_help_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"), index=True)
    unit_type: Mapped[str] = mapped_column(String(32))  # one of vocab.HELP_UNITS
    unit_name: Mapped[str] = mapped_column(String(128), default="")
    responsible: Mapped[str] = mapped_column(String(64), default="")  # 帮扶责任人
    measures: Mapped[str] = mapped_column(Text, default="")  # 帮扶措施
    worker_signature: Mapped[str] = mapped_column(String(64), default="")  # 工作人员签字
    signed_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    elder: Mapped[Elder] = relationship()


class Consent(Base):
    """The elder's consent to devices or to sharing with contacts, with its date and scope."""

    __tablename__ = "care_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # devices | sharing
    granted: Mapped[bool] = mapped_column(Boolean)  # False records a refusal or withdrawal
    scope: Mapped[str] = mapped_column(Text, default="")  # which devices / which contacts and what data
    given_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(64), default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    elder: Mapped[Elder] = relationship()


class Visit(Base):
    """附件3 一、探访情况: one visit record (第 N 次开展探访)."""

    __tablename__ = "care_visits"
    __table_args__ = (UniqueConstraint("elder_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # 第 N 次
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    method: Mapped[str] = mapped_column(String(16))  # vocab.VISIT_METHODS
    household_change: Mapped[str] = mapped_column(String(8), default="无变化")  # 无变化 | 增加 | 减少
    household_delta: Mapped[int] = mapped_column(Integer, default=0)  # 增加/减少 N 人
    expression: Mapped[str] = mapped_column(String(8), default="无变化")  # 表达能力
    mobility: Mapped[str] = mapped_column(String(8), default="无变化")  # 行动能力
    illness: Mapped[str] = mapped_column(String(8), default="无变化")  # 疾病状况: 无变化 | 严重 | 转好
    illness_name: Mapped[str] = mapped_column(EncryptedText(), default="")  # 疾病名称 (严重)
    mood: Mapped[str] = mapped_column(String(8), default="无变化")  # 情绪状态
    gas_safety: Mapped[str] = mapped_column(String(8), default="安全")  # 燃气安全
    water_heating_safety: Mapped[str] = mapped_column(String(8), default="安全")  # 水暖安全
    power_safety: Mapped[str] = mapped_column(String(8), default="安全")  # 用电安全
    personal_hygiene: Mapped[str] = mapped_column(String(8), default="无变化")  # 个人卫生
    home_hygiene: Mapped[str] = mapped_column(String(8), default="无变化")  # 家庭卫生
    indoor_environment: Mapped[str] = mapped_column(String(8), default="无变化")  # 室内环境
    needs: Mapped[str] = mapped_column(Text, default="")  # 老年人服务需求
    suggestions: Mapped[str] = mapped_column(Text, default="")  # 实施关爱服务建议
    problems_solved: Mapped[int] = mapped_column(Integer, default=0)  # 解决问题数量 (附件1)
    visitor_name: Mapped[str] = mapped_column(String(64))  # 探访人员（签字）
    visitor_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    elder_signature: Mapped[str] = mapped_column(String(64), default="")  # 被探访人（签字）
    elder_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clerk_name: Mapped[str] = mapped_column(String(64), default="")  # 信息录入人（签字）
    clerk_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    elder: Mapped[Elder] = relationship()
    services: Mapped[list[CareService]] = relationship(
        back_populates="visit", cascade="all, delete-orphan", order_by="CareService.seq"
    )


class CareService(Base):
    """附件3 二、关爱服务情况: one care service (第 N 次开展关爱) with the elder's satisfaction."""

    __tablename__ = "care_services"
    __table_args__ = (UniqueConstraint("elder_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"), index=True)
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("care_visits.id", ondelete="CASCADE"), nullable=True, index=True
    )
    seq: Mapped[int] = mapped_column(Integer)  # 第 N 次关爱
    served_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)  # 关爱服务情况
    worker_signature: Mapped[str] = mapped_column(String(128), default="")  # 服务人员签字（盖章）
    signed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    satisfaction: Mapped[str] = mapped_column(String(8), default="")  # vocab.SATISFACTION

    visit: Mapped[Visit | None] = relationship(back_populates="services")


class CareTask(Base):
    """Something a visitor has to do for an elder by a deadline: a planned visit, an alert, a review."""

    __tablename__ = "care_tasks"
    __table_args__ = (UniqueConstraint("dedup_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # visit | alert | review
    # "visit/<elder>/<period start>", "alert/<alert>/<elder>", "review/<elder>/<date>": one task per cause.
    dedup_key: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open | done | cancelled
    assignee: Mapped[str] = mapped_column(String(64), default="")  # designated visitor's name
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), nullable=True)
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("care_visits.id", ondelete="SET NULL"), nullable=True
    )
    reminders: Mapped[int] = mapped_column(Integer, default=0)  # 0 none, 1 visitor, 2 also 责任人
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    elder: Mapped[Elder] = relationship()
    events: Mapped[list[CareTaskEvent]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="CareTaskEvent.id"
    )


class CareTaskEvent(Base):
    """One entry of a task's timeline: created, reminded (visitor / 责任人), done, cancelled."""

    __tablename__ = "care_task_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("care_tasks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")

    task: Mapped[CareTask] = relationship(back_populates="events")


class CareAudit(Base):
    """Who saw unmasked personal data (an export with ID numbers), when, and what."""

    __tablename__ = "care_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
