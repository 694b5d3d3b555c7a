"""Who the escalation chain can reach, checked over every home: gaps are configuration errors.

"Nobody to notify" must not first show up in a log line when an SOS is already waiting. The hub checks at
start-up (`AlertService`) and the board asks again (`GET /api/v1/alerts/coverage`), so a home added without
contacts, or a config without a district duty line, is visible to the people who can fix it. A gap never
stops the hub: every other home must still be watched.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts.settings import AlertsConfig
from hub.alerts.tables import OnCallShift
from hub.register.models import Contact, Elder, Home

# Register roles a home's own people have (the first steps of every elder policy).
_OWN_ROLES = ("visitor", "relative", "emergency", "responsible")


@dataclass(frozen=True, slots=True)
class Gap:
    """One hole in the safety net: `home` is None for a hub-wide one; `level` is error or warning."""

    home: str | None
    level: str
    problem: str  # Chinese, for the board and the log

    def as_dict(self) -> dict[str, str | None]:
        """The API shape."""
        return {"home": self.home, "level": self.level, "problem": self.problem}


def coverage_gaps(
    session: Session, config: AlertsConfig, home_ids: frozenset[int] | None = None
) -> list[Gap]:
    """Gaps of the hub and of every home (or of `home_ids`): errors first, then warnings, by home code."""
    gaps: list[Gap] = []
    if not config.district_duty:
        gaps.append(
            Gap(
                None,
                "error",
                "未配置区值班（alerts.district_duty）：升级链用尽仍无人接单时没有兜底的值班电话",
            )
        )
    stmt = select(Home.id, Home.code, Home.street).order_by(Home.code)
    if home_ids is not None:
        stmt = stmt.where(Home.id.in_(home_ids))
    homes = session.execute(stmt).all()
    with_people = set(
        session.scalars(
            select(Elder.home_id)
            .join(Contact, Contact.elder_id == Elder.id)
            .where(Contact.role.in_(_OWN_ROLES), Contact.phone != "")
            .distinct()
        )
    )
    rota_streets = set(session.scalars(select(OnCallShift.street).where(OnCallShift.phone != "").distinct()))
    for home_id, code, street in homes:
        if home_id in with_people:
            continue
        if config.district_duty or street in rota_streets:
            gaps.append(
                Gap(
                    code,
                    "warning",
                    f"住户 {code} 没有探访联系人、亲属或责任人的电话：告警只能通知街道/区值班",
                )
            )
        else:
            gaps.append(
                Gap(code, "error", f"住户 {code} 无任何可通知的人（无联系人电话、街道无值班、未配置区值班）")
            )
    gaps.sort(key=lambda g: (g.level != "error", g.home or ""))
    return gaps
