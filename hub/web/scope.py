"""Roles, permissions and jurisdiction: who may do what, and which homes and elders they may see.

The jurisdiction chain of the programme: the district bureau sees everything; street (镇街) staff their
street; village/community (村（居）委会) staff their community; a visitor the elders assigned to them (the
elder's ``visitor`` contacts whose phone is the user's, plus explicit links on the user); a relative their
own elder. Maintenance sees devices and device alerts with the address, and no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.register.models import Contact, Elder, Home

ROLES: dict[str, str] = {
    "admin": "区民政局管理员",
    "street": "镇街工作人员",
    "community": "村（居）委会工作人员",
    "visitor": "探访人员",
    "relative": "亲属",
    "maintenance": "设备维护人员",
}

_STAFF = frozenset({"admin", "street", "community"})
_PEOPLE = _STAFF | {"visitor", "relative"}
_ALL = frozenset(ROLES)

# Action → the roles that may perform it (the scope then narrows what they see).
PERMISSIONS: dict[str, frozenset[str]] = {
    "alerts.read": _ALL,
    "alerts.act": _ALL,  # acknowledge / resolve / cancel: maintenance only device alerts (see Scope)
    "homes.read": _ALL,
    "devices.read": _STAFF | {"maintenance"},
    "readings.read": _PEOPLE,
    "elders.read": _PEOPLE,
    "elders.reveal": _STAFF,
    "elders.write": _STAFF,  # the safe zone (安全区域); the rest of the record comes from the site file
    "visits.read": _PEOPLE,
    "visits.write": _STAFF | {"visitor"},
    "tasks.read": _STAFF | {"visitor"},
    "reports.read": _STAFF,
    "imports": frozenset({"admin"}),
    "exports": frozenset({"admin"}),
    "quarantine.read": frozenset({"admin", "maintenance"}),
    "partitions.read": _STAFF | {"maintenance"},
    "calendar.read": _STAFF | {"visitor"},
    "absences.write": _STAFF | {"visitor"},
    "modes.write": frozenset({"admin", "street"}),
    "audit.read": frozenset({"admin"}),
    "users.manage": frozenset({"admin"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user of a request."""

    user_id: int
    name: str
    role: str
    street: str = ""
    community: str = ""
    phone: str = ""
    elders: tuple[str, ...] = ()
    via: str = "cookie"  # cookie | token | demo

    def may(self, action: str) -> bool:
        """Whether the role allows `action` at all (scope is checked separately)."""
        return self.role in PERMISSIONS[action]


@dataclass(frozen=True, slots=True)
class Scope:
    """What one principal may see: None = everything, else the ids of homes and elders in reach."""

    home_ids: frozenset[int] | None
    elder_ids: frozenset[int] | None
    device_only: bool = False  # maintenance: device alerts and devices, no personal data

    def home_ok(self, home_id: int) -> bool:
        """Whether the home is in reach."""
        return self.home_ids is None or home_id in self.home_ids

    def elder_ok(self, elder_id: int) -> bool:
        """Whether the elder's personal data is in reach."""
        if self.device_only:
            return False
        return self.elder_ids is None or elder_id in self.elder_ids

    def alert_ok(self, home_id: int, alert_class: str) -> bool:
        """Whether an alert is visible (maintenance: device alerts only)."""
        return self.home_ok(home_id) and (not self.device_only or alert_class == "device")


def scope_of(session: Session, who: Principal) -> Scope:
    """Compute the scope of `who` from the register (homes and elders as they are now)."""
    if who.role == "admin":
        return Scope(None, None)
    if who.role == "maintenance":
        return Scope(None, frozenset(), device_only=True)
    if who.role in ("street", "community"):
        stmt = select(Elder.id, Home.id).join(Home, Elder.home_id == Home.id, full=False)
        homes = select(Home.id)
        if who.street:
            stmt, homes = stmt.where(Home.street == who.street), homes.where(Home.street == who.street)
        if who.role == "community":
            stmt, homes = (
                stmt.where(Home.community == who.community),
                homes.where(Home.community == who.community),
            )
        if who.role == "street" and not who.street:
            return Scope(frozenset(), frozenset())
        home_ids = frozenset(session.scalars(homes))
        elder_ids = frozenset(e for e, _ in session.execute(stmt))
        return Scope(home_ids, elder_ids)
    # visitor / relative: explicit elder codes, plus contacts of the matching role with the user's phone.
    ids: set[int] = set()
    if who.elders:
        ids |= set(session.scalars(select(Elder.id).where(Elder.code.in_(who.elders))))
    if who.phone:
        role = "visitor" if who.role == "visitor" else "relative"
        ids |= set(
            session.scalars(select(Contact.elder_id).where(Contact.role == role, Contact.phone == who.phone))
        )
    homes_of = set(session.scalars(select(Elder.home_id).where(Elder.id.in_(ids)))) if ids else set()
    return Scope(frozenset(homes_of), frozenset(ids))
