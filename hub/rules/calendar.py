"""The absence calendar and the extreme-weather / festival modes: register access and the in-memory view.

`active_modes(session, street, at)` is the small pure query others reuse (the care programme tightens visit
frequency with the same modes). `Calendar` is what the engine holds: absences per home and the modes, as
epoch seconds, refreshed from the register periodically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.register.models import Home
from hub.rules.errors import RulesError
from hub.rules.tables import Absence, CareMode

MODE_KINDS = {"weather": "极端天气", "festival": "节假日"}
SCOPES = ("district", "street")


def _check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise RulesError("开始与结束时间须带时区（start and end must carry a time zone）")
    if end <= start:
        raise RulesError(
            f"结束时间 {end.isoformat()} 须晚于开始时间 {start.isoformat()}（end must be after start）"
        )


def add_absence(
    session: Session, home: str, start: datetime, end: datetime, reason: str, now: datetime
) -> Absence:
    """Record that the elder of `home` is away from `start` to `end`."""
    _check_period(start, end)
    if session.scalar(select(Home.id).where(Home.code == home)) is None:
        raise RulesError(f"住户 {home!r} 不在登记簿中（unknown home）")
    row = Absence(home_code=home, start=start, end=end, reason=reason, created_at=now)
    session.add(row)
    session.flush()
    return row


def list_absences(session: Session, home: str | None = None) -> list[Absence]:
    """Absence entries (of one home, or all), by start."""
    query = select(Absence).order_by(Absence.start, Absence.id)
    if home:
        query = query.where(Absence.home_code == home)
    return list(session.scalars(query))


def remove_absence(session: Session, absence_id: int) -> None:
    """Delete one absence entry; `RulesError` if there is none with that id."""
    if session.execute(delete(Absence).where(Absence.id == absence_id)).rowcount == 0:  # type: ignore[attr-defined]
        raise RulesError(f"no absence entry #{absence_id}")


def add_mode(
    session: Session,
    kind: str,
    scope: str,
    street: str,
    start: datetime,
    end: datetime,
    factor: float,
    note: str,
    now: datetime,
) -> CareMode:
    """Switch on a weather/festival mode for the district or one street."""
    _check_period(start, end)
    if kind not in MODE_KINDS:
        raise RulesError(f"模式类型 kind 须为 {'、'.join(MODE_KINDS)} 之一，收到 {kind!r}")
    if scope not in SCOPES:
        raise RulesError(f"范围 scope 须为 district（全区）或 street（镇街），收到 {scope!r}")
    if scope == "street" and not street:
        raise RulesError("镇街范围的模式须指定镇街 street（--street，乡镇（街道）名称）")
    if not 0 < factor <= 1:
        raise RulesError(f"系数 factor 用于缩短等待时间，须在 (0, 1] 之间，收到 {factor}")
    row = CareMode(
        kind=kind,
        scope=scope,
        street=street if scope == "street" else "",
        start=start,
        end=end,
        factor=factor,
        note=note,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_modes(session: Session) -> list[CareMode]:
    """Every mode, by start."""
    return list(session.scalars(select(CareMode).order_by(CareMode.start, CareMode.id)))


def clear_mode(session: Session, mode_id: int) -> None:
    """Delete one mode; `RulesError` if there is none with that id."""
    if session.execute(delete(CareMode).where(CareMode.id == mode_id)).rowcount == 0:  # type: ignore[attr-defined]
        raise RulesError(f"no mode #{mode_id}")


def active_modes(session: Session, street: str, at: datetime) -> list[CareMode]:
    """The modes in force for a home on `street` at `at` (district-wide ones included)."""
    query = select(CareMode).where(
        CareMode.start <= at,
        CareMode.end > at,
        or_(CareMode.scope == "district", CareMode.street == street),
    )
    return list(session.scalars(query.order_by(CareMode.factor, CareMode.id)))


@dataclass(frozen=True, slots=True)
class ModePeriod:
    """A mode as the engine holds it."""

    street: str  # "" = the whole district
    start: float
    end: float
    factor: float


class Calendar:
    """Absences and modes in memory (epoch seconds); built from the register by `load_calendar`."""

    def __init__(
        self,
        absences: Iterable[tuple[str, float, float]] = (),
        modes: Iterable[ModePeriod] = (),
    ) -> None:
        self.absences: dict[str, list[tuple[float, float]]] = {}
        for home, start, end in absences:
            self.absences.setdefault(home, []).append((start, end))
        for periods in self.absences.values():
            periods.sort()
        self.modes = tuple(modes)

    def absent(self, home: str, ts: float) -> bool:
        """Whether `home`'s elder is away at `ts`."""
        periods = self.absences.get(home)
        return bool(periods) and any(start <= ts < end for start, end in periods)  # type: ignore[union-attr]

    def last_end(self, home: str, ts: float) -> float:
        """The latest absence end at or before `ts` (-inf when none)."""
        ends = [end for _, end in self.absences.get(home, ()) if end <= ts]
        return max(ends, default=float("-inf"))

    def factor(self, street: str, ts: float) -> float:
        """The strongest tightening in force on `street` at `ts` (1.0 = none)."""
        factor = 1.0
        for mode in self.modes:
            if mode.start <= ts < mode.end and (not mode.street or mode.street == street):
                factor = min(factor, mode.factor)
        return factor

    def fingerprint(self) -> tuple[object, ...]:
        """Equal for equal calendars (the engine re-arms every home when the calendar changes)."""
        return (tuple(sorted((k, tuple(v)) for k, v in self.absences.items())), self.modes)


def load_calendar(session: Session, now: datetime, keep: timedelta = timedelta(days=3)) -> Calendar:
    """Absences and modes that have not ended more than `keep` before `now`."""
    horizon = now - keep
    try:
        absences = session.execute(
            select(Absence.home_code, Absence.start, Absence.end).where(Absence.end > horizon)
        ).all()
        modes = session.execute(
            select(CareMode.street, CareMode.start, CareMode.end, CareMode.factor).where(
                CareMode.end > horizon
            )
        ).all()
    except SQLAlchemyError as exc:
        raise RulesError(f"cannot read the absence calendar and modes: {exc}") from exc
    return Calendar(
        ((home, start.timestamp(), end.timestamp()) for home, start, end in absences),
        (
            ModePeriod(street, start.timestamp(), end.timestamp(), factor)
            for street, start, end, factor in modes
        ),
    )
