"""The monthly visit rate (月探访率) per street, village/community and visitor, with the elders not visited.

Only 上门探访 counts (the notice's quota and the ledger count home visits). An elder is 已探访 with at least
one home visit in the month, and 达标 when every base period of the month has one (a 重点对象 needs one in
each half month, others one in the month). The rate is 达标 / 应探访; months are local calendar months.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.care.errors import CareError
from hub.care.plans import base_periods, check_year, local_midnight, month_periods
from hub.care.register import all_elders, visitors_of
from hub.care.tables import Visit
from hub.care.vocab import HOME_VISIT, TIER_WORDS


def parse_month(text: str) -> tuple[int, int]:
    """``2026-11`` → (2026, 11); `CareError` naming the bad value otherwise."""
    try:
        year, month = (int(x) for x in text.split("-"))
        date(year, month, 1)
    except ValueError as exc:
        raise CareError(f"月份应写作 2026-11 这样的格式：{text!r}") from exc
    return check_year(year, text, "月份"), month


@dataclass
class RateRow:
    """Counts of one group (a street, a village/community or a visitor)."""

    enrolled: int = 0
    visited: int = 0
    met: int = 0
    home_visits: int = 0

    @property
    def rate(self) -> float:
        """达标 / 应探访 (1.0 when nobody is enrolled)."""
        return self.met / self.enrolled if self.enrolled else 1.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "enrolled": self.enrolled,
            "visited": self.visited,
            "met": self.met,
            "home_visits": self.home_visits,
            "rate": round(self.rate, 4),
        }


@dataclass
class VisitRateReport:
    """The month's visit rate and the elders short of their quota."""

    month: str
    total: RateRow = field(default_factory=RateRow)
    by_street: dict[str, RateRow] = field(default_factory=lambda: defaultdict(RateRow))
    by_community: dict[tuple[str, str], RateRow] = field(default_factory=lambda: defaultdict(RateRow))
    by_visitor: dict[str, RateRow] = field(default_factory=lambda: defaultdict(RateRow))
    not_visited: list[dict[str, Any]] = field(default_factory=list)
    short: list[dict[str, Any]] = field(default_factory=list)  # visited, but a half month had no home visit

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "month": self.month,
            "total": self.total.to_dict(),
            "by_street": [{"street": k, **v.to_dict()} for k, v in sorted(self.by_street.items())],
            "by_community": [
                {"street": s, "community": c, **v.to_dict()}
                for (s, c), v in sorted(self.by_community.items())
            ],
            "by_visitor": [{"visitor": k, **v.to_dict()} for k, v in sorted(self.by_visitor.items())],
            "not_visited": self.not_visited,
            "short": self.short,
        }

    def text(self) -> str:
        """A Chinese report for the terminal."""
        t = self.total
        lines = [
            f"{self.month} 月探访率：{t.rate:.1%}（应探访 {t.enrolled} 人，达标 {t.met}，已探访 {t.visited}）"
        ]
        for title, rows in (
            ("按镇街", {k: v for k, v in sorted(self.by_street.items())}),
            ("按村（社区）", {f"{s}/{c}": v for (s, c), v in sorted(self.by_community.items())}),
            ("按探访人员", {k: v for k, v in sorted(self.by_visitor.items())}),
        ):
            lines.append(title + "：")
            lines += [
                f"  {k}：{v.rate:.1%}（{v.met}/{v.enrolled}，上门 {v.home_visits} 次）"
                for k, v in rows.items()
            ]
        lines.append(f"本月尚未上门探访（{len(self.not_visited)} 人）：")
        lines += [
            f"  {e['code']} {e['name']} {e['street']}/{e['community']} 探访人员：{'、'.join(e['visitors']) or '未指定'}"
            for e in self.not_visited
        ]
        if self.short:
            lines.append(f"未达到每半月一次（{len(self.short)} 人）：")
            lines += [f"  {e['code']} {e['name']} {e['street']}/{e['community']}" for e in self.short]
        return "\n".join(lines)


def visit_rate(session: Session, month: str, tz: ZoneInfo) -> VisitRateReport:
    """Compute the visit rate of a local calendar month (``2026-11``)."""
    year, mon = parse_month(month)
    report = VisitRateReport(month=f"{year:04d}-{mon:02d}")
    first = date(year, mon, 1)
    after = date(year + (mon == 12), mon % 12 + 1, 1)
    start, end = local_midnight(first, tz), local_midnight(after, tz)
    visits: dict[int, list[Visit]] = defaultdict(list)
    stmt = select(Visit).where(Visit.method == HOME_VISIT, Visit.visited_at >= start, Visit.visited_at < end)
    for visit in session.scalars(stmt):
        visits[visit.elder_id].append(visit)
    for elder in all_elders(session):
        if elder.filed_on is not None and elder.filed_on >= after:
            continue  # filed after the month: not yet enrolled then
        mine = visits.get(elder.id, [])
        periods = month_periods(year, mon, base_periods(elder.tier))
        covered = sum(
            any(local_midnight(a, tz) <= v.visited_at < local_midnight(b, tz) for v in mine)
            for a, b in periods
        )
        met = covered == len(periods)
        home = elder.home
        names = visitors_of(elder)
        groups = [
            report.total,
            report.by_street[home.street],
            report.by_community[(home.street, home.community)],
        ]
        groups += [report.by_visitor[name] for name in names] or [report.by_visitor["（未指定）"]]
        for row in groups:
            row.enrolled += 1
            row.visited += bool(mine)
            row.met += met
            row.home_visits += len(mine)
        entry = {
            "code": elder.code,
            "name": elder.name,
            "tier": TIER_WORDS.get(elder.tier, elder.tier),
            "street": home.street,
            "community": home.community,
            "visitors": names,
            "home_visits": len(mine),
        }
        if not mine:
            report.not_visited.append(entry)
        elif not met:
            report.short.append(entry)
    return report


def false_alarms(
    session: Session, month: str, tz: ZoneInfo, home_ids: frozenset[int] | None = None
) -> dict[str, Any]:
    """The false-alarm rate of a local month, per rule (alert kind) and per home and kind.

    Counts the elder alerts resolved in the month (by `closed_at`); a false alarm is an outcome of
    `hub.alerts.outcomes.FALSE_ALARM` (老人自报平安, 探访确认无事); the rate is false alarms over resolved.
    `home_ids` narrows it to a jurisdiction (None: every home).
    """
    from hub.alerts.outcomes import FALSE_ALARM, OUTCOMES
    from hub.register.models import Alert, Home
    from hub.rules.kinds import kind_name

    year, mon = parse_month(month)
    start = local_midnight(date(year, mon, 1), tz)
    end = local_midnight(date(year + (mon == 12), mon % 12 + 1, 1), tz)
    stmt = (
        select(Alert.home_id, Home.code, Alert.kind, Alert.outcome)
        .join(Home, Home.id == Alert.home_id)
        .where(
            Alert.state == "resolved",
            Alert.alert_class == "elder",
            Alert.closed_at >= start,
            Alert.closed_at < end,
        )
    )
    per_home: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for home_id, code, kind, outcome in session.execute(stmt):
        if home_ids is None or home_id in home_ids:
            per_home[(kind, code)][outcome or "other"] += 1

    def row(outcomes: dict[str, int], **keys: str) -> dict[str, Any]:
        resolved = sum(outcomes.values())
        false = sum(n for o, n in outcomes.items() if o in FALSE_ALARM)
        return {
            **keys,
            "resolved": resolved,
            "false_alarms": false,
            "rate": round(false / resolved, 3) if resolved else 0.0,
            "by_outcome": {OUTCOMES.get(o, o): n for o, n in sorted(outcomes.items())},
        }

    per_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    total: dict[str, int] = defaultdict(int)
    for (kind, _code), outcomes in per_home.items():
        for o, n in outcomes.items():
            per_kind[kind][o] += n
            total[o] += n
    return {
        "month": f"{year:04d}-{mon:02d}",
        "total": row(total),
        "by_kind": [
            row(per_kind[k], kind=k, kind_zh=kind_name(k))
            for k in sorted(per_kind, key=lambda k: (-sum(per_kind[k].values()), k))
        ],
        "by_home": [row(per_home[(k, c)], kind=k, kind_zh=kind_name(k), home=c) for k, c in sorted(per_home)],
    }
