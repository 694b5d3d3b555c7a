"""Reading the care register: find elders, their contacts by role, masked summaries, consents, reviews.

The jurisdiction chain is the home's district → street (镇街) → village/community; the designated visitors
are the elder's contacts with role ``visitor`` (in priority order), the community 责任人 the contact with
role ``responsible``, the 紧急联系人 the ``emergency`` contact and the relatives the ``relative`` ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from hub.care.errors import CareError
from hub.care.idcard import check_id_number, mask_id, mask_phone
from hub.care.tables import CareAudit, Consent
from hub.care.vocab import CONSENT_KINDS, TIER_WORDS
from hub.register.crypto import id_hash
from hub.register.models import Contact, Elder, Home
from hub.register.site import local_address


@dataclass(frozen=True, slots=True)
class IdAccess:
    """Whether an export shows full ID numbers, and who asked (checked and audited by `grant_id_access`)."""

    reveal: bool = False
    actor: str = ""


MASKED = IdAccess()


def grant_id_access(
    session: Session, access: IdAccess, allowed: list[str], *, what: str, now: datetime
) -> IdAccess:
    """Check that `access.actor` may see full ID numbers and audit it; a masked request passes through."""
    if not access.reveal:
        return access
    if not access.actor or access.actor not in allowed:
        raise CareError(f"“{access.actor or '（未署名）'}”无权查看完整身份证号（需列入 care.id_viewers）")
    session.add(CareAudit(at=now, actor=access.actor, action="reveal_id", detail=what))
    return access


def show_id(number: str | None, access: IdAccess) -> str:
    """The ID number as the access allows: whole, or masked (500***********1234)."""
    return (number or "") if access.reveal else mask_id(number)


def find_elder(session: Session, ref: str) -> Elder:
    """The elder with code `ref`, or with ID number `ref`; `CareError` if there is none."""
    elder = session.scalar(select(Elder).where(Elder.code == ref))
    if elder is None and len(ref.strip()) == 18:
        try:
            number = check_id_number(ref)
        except ValueError:
            number = ""
        if number:
            elder = session.scalar(select(Elder).where(Elder.id_hash == id_hash(number)))
    if elder is None:
        raise CareError(f"找不到老年人 {ref!r}（按编号或身份证号查找）")
    return elder


def all_elders(session: Session) -> list[Elder]:
    """Every elder with home and contacts loaded, ordered by street, community and code."""
    stmt = (
        select(Elder)
        .join(Home)
        .options(selectinload(Elder.home), selectinload(Elder.contacts))
        .order_by(Home.street, Home.community, Elder.code)
    )
    return list(session.scalars(stmt))


def contacts_with_role(elder: Elder, role: str) -> list[Contact]:
    """The elder's contacts of one role, in priority order."""
    return [c for c in sorted(elder.contacts, key=lambda c: c.priority) if c.role == role]


def visitors_of(elder: Elder) -> list[str]:
    """Names of the designated visitors (探访人员), first one first."""
    return [c.name for c in contacts_with_role(elder, "visitor")]


def responsible_of(elder: Elder) -> Contact | None:
    """The village/community 责任人, if recorded."""
    found = contacts_with_role(elder, "responsible")
    return found[0] if found else None


def elder_summary(elder: Elder, access: IdAccess = MASKED) -> dict[str, Any]:
    """A JSON-ready summary of one elder for lists (ID number and phone masked unless revealed)."""
    home = elder.home
    responsible = responsible_of(elder)
    return {
        "code": elder.code,
        "name": elder.name,
        "sex": elder.sex,
        "id_number": show_id(elder.id_number, access),
        "phone": elder.phone if access.reveal else mask_phone(elder.phone),
        "tier": TIER_WORDS.get(elder.tier, elder.tier),
        "categories": list(elder.categories),
        "ability_level": elder.ability_level,
        "district": home.district,
        "street": home.street,
        "community": home.community,
        "address": home.address,
        # The address below 镇街/村（社区）, for pages that show those in front of it.
        "address_local": local_address(home.address, home.district, home.street, home.community),
        "visitors": visitors_of(elder),
        "responsible": responsible.name if responsible else "",
        "reviewed_at": elder.reviewed_at.isoformat() if elder.reviewed_at else None,
    }


def add_consent(
    session: Session,
    elder: Elder,
    *,
    kind: str,
    granted: bool,
    scope: str,
    given_on: date,
    recorded_by: str,
    now: datetime,
) -> Consent:
    """Record the elder's consent (or refusal) to devices or to sharing with contacts."""
    if kind not in CONSENT_KINDS:
        raise CareError(f"同意事项 {kind!r} 无效，应为 {'、'.join(CONSENT_KINDS)}")
    consent = Consent(
        elder_id=elder.id,
        kind=kind,
        granted=granted,
        scope=scope,
        given_on=given_on,
        recorded_by=recorded_by,
        recorded_at=now,
    )
    session.add(consent)
    session.flush()
    return consent


def current_consent(session: Session, elder: Elder, kind: str) -> Consent | None:
    """The latest consent record of one kind (the one in force)."""
    stmt = (
        select(Consent)
        .where(Consent.elder_id == elder.id, Consent.kind == kind)
        .order_by(Consent.given_on.desc(), Consent.id.desc())
    )
    return session.scalars(stmt).first()
