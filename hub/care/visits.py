"""附件3 visit records and care services: validation, numbering, and what a visit settles.

`record_visit` numbers the visit (第 N 次), closes the elder's open visit tasks whose period it falls in (a
home visit only: the quota counts 上门探访), closes the task it answers and, when that task (or the visit)
names an alert, resolves the alert through `hub.alerts.lifecycle.resolve`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.alerts import lifecycle
from hub.alerts.model import ACTIVE_STATES
from hub.alerts.outcomes import OUTCOMES, VISIT_OK
from hub.care.errors import CareError
from hub.care.tables import CareService, CareTask, CareTaskEvent, Visit
from hub.care.vocab import (
    HOME_VISIT,
    HOUSEHOLD_CHANGE,
    ILLNESS,
    SAFETY,
    SATISFACTION,
    TREND,
    VISIT_METHODS,
)
from hub.register.models import Alert, Elder

# Field → (Chinese label, allowed values) of the 附件3 check-box fields.
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "method": ("探访方式", VISIT_METHODS),
    "household_change": ("家庭人口", HOUSEHOLD_CHANGE),
    "expression": ("表达能力", TREND),
    "mobility": ("行动能力", TREND),
    "illness": ("疾病状况", ILLNESS),
    "mood": ("情绪状态", TREND),
    "gas_safety": ("燃气安全", SAFETY),
    "water_heating_safety": ("水暖安全", SAFETY),
    "power_safety": ("用电安全", SAFETY),
    "personal_hygiene": ("个人卫生", TREND),
    "home_hygiene": ("家庭卫生", TREND),
    "indoor_environment": ("室内环境", TREND),
}


@dataclass(frozen=True, slots=True)
class VisitInput:
    """The fields of one 附件3 visit as entered (CLI or API)."""

    visited_at: datetime
    method: str
    visitor_name: str
    household_change: str = "无变化"
    household_delta: int = 0
    expression: str = "无变化"
    mobility: str = "无变化"
    illness: str = "无变化"
    illness_name: str = ""
    mood: str = "无变化"
    gas_safety: str = "安全"
    water_heating_safety: str = "安全"
    power_safety: str = "安全"
    personal_hygiene: str = "无变化"
    home_hygiene: str = "无变化"
    indoor_environment: str = "无变化"
    needs: str = ""
    suggestions: str = ""
    problems_solved: int = 0
    visitor_signed_at: datetime | None = None
    elder_signature: str = ""
    elder_signed_at: datetime | None = None
    clerk_name: str = ""
    clerk_signed_at: datetime | None = None

    def problems(self) -> list[str]:
        """Everything wrong with the input, in Chinese (empty when it is fine)."""
        out = []
        for name, (label, allowed) in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                out.append(f"{label}应为 {'、'.join(allowed)} 之一，而不是 {value!r}")
        if not self.visitor_name.strip():
            out.append("探访人员（签字）不能为空")
        if self.visited_at.tzinfo is None:
            out.append("探访时间须带时区")
        if self.household_change == "无变化" and self.household_delta:
            out.append("家庭人口无变化时，增减人数应为 0")
        if self.household_change != "无变化" and self.household_delta <= 0:
            out.append(f"家庭人口{self.household_change}时须填写人数（大于 0）")
        if self.illness == "严重" and not self.illness_name.strip():
            out.append("疾病状况为严重时须填写疾病名称")
        if self.problems_solved < 0:
            out.append("解决问题数量不能为负")
        return out


_DATETIME_FIELDS = {"visited_at", "visitor_signed_at", "elder_signed_at", "clerk_signed_at"}
_INT_FIELDS = {"household_delta", "problems_solved"}


def visit_input(data: Mapping[str, Any]) -> VisitInput:
    """Build a `VisitInput` from a mapping of strings or values (API JSON, CLI options); `CareError` if bad."""
    known = {f.name for f in fields(VisitInput)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise CareError(f"未知的探访记录字段：{'、'.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if key in _DATETIME_FIELDS and isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError as exc:
                raise CareError(
                    f"{key}: 时间格式应为 ISO 8601（如 2026-11-03T10:00+08:00）：{value!r}"
                ) from exc
        if key in _INT_FIELDS and not isinstance(value, int):
            try:
                value = int(value)
            except (TypeError, ValueError) as exc:
                raise CareError(f"{key}: 应为整数：{value!r}") from exc
        values[key] = value
    for required in ("visited_at", "method", "visitor_name"):
        if required not in values:
            raise CareError(f"探访记录缺少字段 {required}")
    try:
        visit = VisitInput(**values)
    except TypeError as exc:
        raise CareError(f"探访记录字段有误：{exc}") from exc
    wrong = visit.problems()
    if wrong:
        raise CareError("；".join(wrong))
    return visit


def record_visit(
    session: Session,
    elder: Elder,
    data: VisitInput,
    *,
    now: datetime,
    task_id: int | None = None,
    alert_id: int | None = None,
    alert_outcome: str = VISIT_OK,
) -> Visit:
    """Store a visit, close what it settles and resolve the alert it answers (inside the caller's transaction).

    `alert_outcome` is what the visit found, a code of `hub.alerts.outcomes.OUTCOMES` (default 探访确认无事).
    """
    if alert_id is not None and alert_outcome not in OUTCOMES:
        raise CareError(f"处置结果应为 {'、'.join(OUTCOMES)} 之一，而不是 {alert_outcome!r}")
    wrong = data.problems()
    if wrong:
        raise CareError("；".join(wrong))
    task = None
    if task_id is not None:
        task = session.get(CareTask, task_id)
        if task is None or task.elder_id != elder.id:
            raise CareError(f"任务 {task_id} 不存在或不属于 {elder.name}")
        alert_id = alert_id or task.alert_id
    seq = (session.scalar(select(func.max(Visit.seq)).where(Visit.elder_id == elder.id)) or 0) + 1
    values = {f.name: getattr(data, f.name) for f in fields(VisitInput)}
    visit = Visit(elder_id=elder.id, seq=seq, alert_id=alert_id, recorded_at=now, **values)
    session.add(visit)
    session.flush()

    settled: list[CareTask] = []
    if task is not None and task.state == "open":
        settled.append(task)
    open_tasks = session.scalars(
        select(CareTask).where(CareTask.elder_id == elder.id, CareTask.state == "open")
    ).all()
    for other in open_tasks:
        if other in settled:
            continue
        if (alert_id is not None and other.alert_id == alert_id) or (
            data.method == HOME_VISIT
            and other.kind == "visit"
            and other.period_start is not None
            and other.period_start <= data.visited_at < other.due_at
        ):
            settled.append(other)
    for done in settled:
        done.state = "done"
        done.closed_at = now
        done.visit_id = visit.id
        session.add(
            CareTaskEvent(
                task=done, at=now, event="done", recipient=data.visitor_name, detail=f"第 {seq} 次探访"
            )
        )

    if alert_id is not None:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise CareError(f"告警 {alert_id} 不存在")
        if alert.state in ACTIVE_STATES:
            notes = "；".join(x for x in (data.needs, data.suggestions) if x)
            lifecycle.resolve(
                session,
                alert_id,
                by=data.visitor_name,
                outcome=alert_outcome,
                notes="；".join(x for x in (f"{data.method}（第 {seq} 次探访）", notes) if x),
                at=data.visited_at,
            )
    session.flush()
    return visit


def add_service(
    session: Session,
    elder: Elder,
    *,
    served_on: date,
    description: str,
    worker_signature: str,
    satisfaction: str,
    signed_on: date | None = None,
    visit: Visit | None = None,
) -> CareService:
    """Store a 附件3 care service (第 N 次关爱) with the elder's satisfaction rating."""
    if satisfaction not in SATISFACTION:
        raise CareError(f"服务满意度应为 {'、'.join(SATISFACTION)} 之一，而不是 {satisfaction!r}")
    if not description.strip():
        raise CareError("关爱服务情况不能为空")
    seq = (session.scalar(select(func.max(CareService.seq)).where(CareService.elder_id == elder.id)) or 0) + 1
    service = CareService(
        elder_id=elder.id,
        visit_id=visit.id if visit is not None else None,
        seq=seq,
        served_on=served_on,
        description=description,
        worker_signature=worker_signature,
        signed_on=signed_on or served_on,
        satisfaction=satisfaction,
    )
    session.add(service)
    session.flush()
    return service


def visits_between(
    session: Session, start: datetime, end: datetime, elder_id: int | None = None
) -> list[Visit]:
    """Visits with start <= visited_at < end (optionally of one elder), oldest first."""
    stmt = select(Visit).where(Visit.visited_at >= start, Visit.visited_at < end)
    if elder_id is not None:
        stmt = stmt.where(Visit.elder_id == elder_id)
    return list(session.scalars(stmt.order_by(Visit.visited_at, Visit.id)))


def visit_dict(visit: Visit) -> dict[str, Any]:
    """JSON-ready form of a visit (every 附件3 field)."""
    out: dict[str, Any] = {
        "id": visit.id,
        "elder": visit.elder.code,
        "seq": visit.seq,
        "alert_id": visit.alert_id,
    }
    for f in fields(VisitInput):
        value = getattr(visit, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    out["services"] = [
        {
            "seq": s.seq,
            "served_on": s.served_on.isoformat(),
            "description": s.description,
            "worker_signature": s.worker_signature,
            "satisfaction": s.satisfaction,
        }
        for s in visit.services
    ]
    return out
