"""The audit log: append-only records of logins, reads of personal data, exports, alert actions and
permission denials.

The application only ever inserts (`record`); there is no update path. The single deletion is
`purge`, which removes rows older than the retention period (at least six months, ``web.audit_retention_days``)
and refuses a shorter one. Unmasked exports of hub.care are also recorded in its ``care_audit`` table by
`hub.care.register.grant_id_access`; the web layer records the export itself here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.web.tables import AuditEntry

MIN_RETENTION_DAYS = 183

ACTIONS: dict[str, str] = {
    "login": "登录",
    "logout": "退出",
    "denied": "拒绝访问",
    "read_elder": "查看老人档案",
    "reveal": "查看完整个人信息",
    "export": "导出",
    "import": "导入",
    "ack": "接单",
    "resolve": "处置完成",
    "revert_adjustment": "撤销规则调整",
    "cancel": "取消告警",
    "visit": "录入探访",
    "absence": "登记外出",
    "mode": "设置关爱模式",
    "token": "签发令牌",
    "set_safe_zone": "设置安全区域",
    "clear_safe_zone": "取消安全区域",
}


class AuditError(ValueError):
    """A purge was asked for with a retention shorter than the minimum."""


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    role: str = "",
    target: str = "",
    outcome: str = "ok",
    ip: str = "",
    detail: dict[str, Any] | None = None,
    note: str = "",
) -> None:
    """Append one entry (in the caller's transaction, so it commits with what it describes)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    session.add(
        AuditEntry(
            at=at,
            actor=actor[:64],
            role=role,
            action=action,
            target=target[:128],
            outcome=outcome,
            ip=ip[:64],
            detail=detail or {},
            note=note,
        )
    )


def entries(
    session: Session, *, action: str | None = None, actor: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Newest entries first, as dicts."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "role": e.role,
            "action": e.action,
            "action_zh": ACTIONS.get(e.action, e.action),
            "target": e.target,
            "outcome": e.outcome,
            "ip": e.ip,
            "detail": e.detail,
            "note": e.note,
        }
        for e in session.scalars(stmt)
    ]


def purge(session: Session, *, now: datetime, retention_days: int) -> int:
    """Delete entries older than `retention_days` (≥ 183); return how many went."""
    if retention_days < MIN_RETENTION_DAYS:
        raise AuditError(f"审计日志至少保留 {MIN_RETENTION_DAYS} 天（六个月），不能设为 {retention_days} 天")
    cutoff = now - timedelta(days=retention_days)
    result = session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
