"""Rules that keep raising false alarms for a home tighten themselves there, within limits, reversibly.

A false alarm is an alert resolved as 老人自报平安 or 探访确认无事 (`outcomes.FALSE_ALARM`). After
`TightenConfig.min_count` of one kind for one home within `window_days`, counted afresh after each change,
the home's threshold factor for that kind grows by `step` up to `max_factor`: a `RuleAdjustment` row (home,
kind, factor, previous, reason, at, by), shown on the elder's page and undone by `revert`. The rules read the
factors at every refresh (`hub.register.adjustments.current_factors`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.alerts.errors import AlertError
from hub.alerts.outcomes import FALSE_ALARM
from hub.alerts.settings import TightenConfig
from hub.register.adjustments import current_factor
from hub.register.models import Alert, AlertEvent, Home, RuleAdjustment
from hub.rules.kinds import kind_name

SYSTEM = "系统自动"


def after_resolve(
    session: Session, alert: Alert, config: TightenConfig, at: datetime
) -> RuleAdjustment | None:
    """Tighten the alert's rule for its home when this false alarm completes a run; the new row or None."""
    # Only threshold rules have something to tighten: those that may ask the elder first (check_first).
    # An SOS pressed by mistake or a smoke detector's false alarm is a device or a person, not a window.
    if alert.outcome not in FALSE_ALARM or alert.alert_class != "elder" or not alert.check_first:
        return None
    last = session.scalar(
        select(RuleAdjustment)
        .where(RuleAdjustment.home_id == alert.home_id, RuleAdjustment.kind == alert.kind)
        .order_by(RuleAdjustment.id.desc())
        .limit(1)
    )
    counted = select(func.count(Alert.id)).where(
        Alert.home_id == alert.home_id, Alert.kind == alert.kind, Alert.outcome.in_(FALSE_ALARM)
    )
    since = at - timedelta(days=config.window_days)
    if last is not None and max(last.at, last.reverted_at or last.at) >= since:
        counted = counted.where(Alert.closed_at > max(last.at, last.reverted_at or last.at))
    else:
        counted = counted.where(Alert.closed_at >= since)
    n = session.scalar(counted) or 0
    if n < config.min_count:
        return None
    current = current_factor(session, alert.home_id, alert.kind)
    new = round(min(current + config.step, config.max_factor), 3)
    if new <= current:
        return None
    kind = kind_name(alert.kind)
    reason = f"{config.window_days}天内误报{n}次（{kind}），阈值系数 {current:g}→{new:g}"
    row = RuleAdjustment(
        home_id=alert.home_id, kind=alert.kind, factor=new, previous=current, reason=reason, at=at, by=SYSTEM
    )
    session.add(row)
    session.add(
        AlertEvent(alert_id=alert.id, at=at, event="rule_tightened", detail=f"该户规则自动放宽：{reason}")
    )
    session.flush()
    return row


def revert(session: Session, adjustment_id: int, *, by: str, at: datetime) -> RuleAdjustment:
    """Undo an adjustment: the factor falls back to the newest earlier one still in force (or 1.0)."""
    row = session.get(RuleAdjustment, adjustment_id)
    if row is None:
        raise AlertError(f"调整记录 {adjustment_id} 不存在 (no rule adjustment {adjustment_id})")
    if row.reverted_at is not None:
        raise AlertError(
            f"调整记录 {adjustment_id} 已撤销 (rule adjustment {adjustment_id} is already reverted)"
        )
    row.reverted_at, row.reverted_by = at, by
    session.flush()
    return row


def list_adjustments(session: Session, home_ids: Collection[int] | None = None) -> list[dict[str, Any]]:
    """Every adjustment, newest first, as dicts (API, CLI, the elder's page)."""
    stmt = select(RuleAdjustment, Home.code).join(Home, Home.id == RuleAdjustment.home_id)
    if home_ids is not None:
        stmt = stmt.where(RuleAdjustment.home_id.in_(home_ids))
    return [
        {
            "id": r.id,
            "home": code,
            "kind": r.kind,
            "kind_zh": kind_name(r.kind),
            "factor": r.factor,
            "previous": r.previous,
            "reason": r.reason,
            "at": r.at.isoformat(),
            "by": r.by,
            "reverted_at": r.reverted_at.isoformat() if r.reverted_at else None,
            "reverted_by": r.reverted_by,
        }
        for r, code in session.execute(stmt.order_by(RuleAdjustment.id.desc())).all()
    ]
