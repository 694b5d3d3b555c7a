"""Who a step reaches, read from the register (contacts, street rota) and the config (duty, maintenance)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts.settings import AlertsConfig
from hub.alerts.tables import OnCallShift
from hub.register.models import Contact, Elder, Home

# Register contact roles behind each target; "family" is relatives and emergency contacts together.
_ROLES = {"visitor": ("visitor",), "family": ("relative", "emergency"), "responsible": ("responsible",)}


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person to notify: name, their role in the chain, and phone number."""

    name: str
    role: str
    phone: str


def recipients_for(
    session: Session, home_id: int, target: str, local_now: datetime, config: AlertsConfig
) -> list[Recipient]:
    """The people behind `target` for the elders of `home_id`, deduplicated by phone, in chain order."""
    found: list[Recipient] = []
    if target in _ROLES:
        rows = session.execute(
            select(Contact.name, Contact.role, Contact.phone)
            .join(Elder, Contact.elder_id == Elder.id)
            .where(Elder.home_id == home_id, Contact.role.in_(_ROLES[target]), Contact.phone != "")
            .order_by(Contact.priority, Contact.id)
        ).all()
        found = [Recipient(name, role, phone) for name, role, phone in rows]
    elif target == "street":
        street = session.scalar(select(Home.street).where(Home.id == home_id)) or ""
        shifts = session.scalars(select(OnCallShift).where(OnCallShift.street == street)).all()
        found = [Recipient(s.name, "street", s.phone) for s in shifts if on_shift(s, local_now)]
    elif target == "district":
        found = [Recipient(p.name, "district", p.phone) for p in config.district_duty]
    elif target == "maintenance":
        found = [Recipient(p.name, "maintenance", p.phone) for p in config.maintenance]
    else:
        raise ValueError(f"unknown escalation target {target!r}")
    seen: set[str] = set()
    unique = []
    for r in found:
        if r.phone not in seen:
            seen.add(r.phone)
            unique.append(r)
    return unique


def on_shift(shift: OnCallShift, local_now: datetime) -> bool:
    """Whether `local_now` (local time) falls in the shift's weekdays and hours (overnight windows too)."""
    start, end = _hhmm(shift.start), _hhmm(shift.end)
    now_t = local_now.time().replace(tzinfo=None)
    weekday = local_now.isoweekday()
    if start < end:
        return str(weekday) in shift.weekdays and start <= now_t < end
    # Over midnight (or all day when start == end): the part after midnight belongs to the previous day.
    if now_t >= start:
        return str(weekday) in shift.weekdays
    if now_t < end or start == end:
        previous = 7 if weekday == 1 else weekday - 1
        return str(previous if start != end else weekday) in shift.weekdays
    return False


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
