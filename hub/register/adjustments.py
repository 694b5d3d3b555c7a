"""The effective per-home, per-kind threshold factors of the rules (`RuleAdjustment` rows)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.register.models import Home, RuleAdjustment


def current_factors(session: Session) -> dict[str, dict[str, float]]:
    """Home code → alert kind → the factor in force (the newest row not reverted); kinds at 1.0 omitted."""
    rows = session.execute(
        select(Home.code, RuleAdjustment.kind, RuleAdjustment.factor)
        .join(Home, Home.id == RuleAdjustment.home_id)
        .where(RuleAdjustment.reverted_at.is_(None))
        .order_by(RuleAdjustment.id)
    ).all()
    factors: dict[str, dict[str, float]] = {}
    for code, kind, factor in rows:  # in id order: the newest row of each home and kind wins
        factors.setdefault(code, {})[kind] = factor
    return {code: {k: f for k, f in kinds.items() if f != 1.0} for code, kinds in factors.items()}


def current_factor(session: Session, home_id: int, kind: str) -> float:
    """The factor in force for one home and kind (1.0 without an adjustment)."""
    factor = session.scalar(
        select(RuleAdjustment.factor)
        .where(
            RuleAdjustment.home_id == home_id,
            RuleAdjustment.kind == kind,
            RuleAdjustment.reverted_at.is_(None),
        )
        .order_by(RuleAdjustment.id.desc())
        .limit(1)
    )
    return 1.0 if factor is None else float(factor)
