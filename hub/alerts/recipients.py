"""Who a step reaches, read from the register (contacts, street rota) and the config (duty, maintenance)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts.settings import AlertsConfig
from hub.alerts.tables import OnCallShift
from hub.register.models import Contact, Elder, Home

# Register contact roles behind each target; "family" is relatives and emergency contacts together.
# The family: relatives and emergency contacts (told of an alert's outcome, too).
FAMILY_ROLES = ("relative", "emergency")
_ROLES = {"visitor": ("visitor",), "family": FAMILY_ROLES, "responsible": ("responsible",)}


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person to notify: name, their role in the chain, and phone number."""

    name: str
    role: str
    phone: str


# Every register role a target can reach.
CONTACT_ROLES = tuple(sorted({role for roles in _ROLES.values() for role in roles}))


def recipients_for(
    session: Session,
    home_id: int,
    target: str,
    local_now: datetime,
    config: AlertsConfig,
    contacts: Sequence[Recipient] | None = None,
) -> list[Recipient]:
    """The people behind `target` for the elders of `home_id`, deduplicated by phone, in chain order."""
    return recipients_by_target(session, home_id, (target,), local_now, config, contacts)[target]


def recipients_by_target(
    session: Session,
    home_id: int,
    targets: Sequence[str],
    local_now: datetime,
    config: AlertsConfig,
    contacts: Sequence[Recipient] | None = None,
) -> dict[str, list[Recipient]]:
    """`recipients_for` of each of `targets`, with one register query for all their contacts (a critical
    step reaches the visitor and the family at once: one read of the home's contacts, not one each).

    `contacts`: the home's contacts as `contacts_of_homes` read them, when the caller has them already."""
    unknown = [t for t in targets if t not in _ROLES and t not in ("street", "district", "maintenance")]
    if unknown:
        raise ValueError(f"unknown escalation target {unknown[0]!r}")
    roles = {role for t in targets for role in _ROLES.get(t, ())}
    if not roles:
        contacts = []
    elif contacts is None:
        contacts = contacts_of_homes(session, [home_id], sorted(roles)).get(home_id, [])
    found: dict[str, list[Recipient]] = {}
    for target in targets:
        if target in _ROLES:
            people = [r for r in contacts if r.role in _ROLES[target]]
        elif target == "street":
            street = session.scalar(select(Home.street).where(Home.id == home_id)) or ""
            shifts = session.scalars(select(OnCallShift).where(OnCallShift.street == street)).all()
            people = [Recipient(s.name, "street", s.phone) for s in shifts if on_shift(s, local_now)]
        elif target == "district":
            people = [Recipient(p.name, "district", p.phone) for p in config.district_duty]
        else:
            people = [Recipient(p.name, "maintenance", p.phone) for p in config.maintenance]
        found[target] = _unique(people)
    return found


def contacts_of_homes(
    session: Session, home_ids: Sequence[int], roles: Sequence[str] = CONTACT_ROLES
) -> dict[int, list[Recipient]]:
    """The contacts of `roles` with a phone of each of `home_ids`' elders, in chain order (priority), in one
    query: the escalations a claim begins read their homes' contacts together, not one home each."""
    rows = session.execute(
        select(Elder.home_id, Contact.name, Contact.role, Contact.phone)
        .join(Elder, Contact.elder_id == Elder.id)
        .where(Elder.home_id.in_(sorted(set(home_ids))), Contact.role.in_(roles), Contact.phone != "")
        .order_by(Contact.priority, Contact.id)
    ).all()
    found: dict[int, list[Recipient]] = {}
    for home_id, name, role, phone in rows:
        found.setdefault(home_id, []).append(Recipient(name, role, phone))
    return found


def _unique(people: list[Recipient]) -> list[Recipient]:
    """`people` without a second entry for a phone number, in order."""
    seen: set[str] = set()
    unique = []
    for r in people:
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
