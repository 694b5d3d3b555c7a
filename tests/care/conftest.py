"""Fixtures of the care tests: a session on a migrated register (SQLite and PostgreSQL) and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hub.care.idcard import check_character
from hub.register.db import make_engine, session_factory
from hub.register.models import Alert, Contact, Elder, Home


def make_id(first17: str) -> str:
    """A valid 18-character ID number from its first 17 digits."""
    return first17 + check_character(first17)


@pytest.fixture
def engine(register_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty register."""
    engine = make_engine(register_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session; the test commits what it keeps."""
    with session_factory(engine)() as session:
        yield session


def add_elder(
    session: Session,
    code: str,
    *,
    tier: str = "general",
    street: str = "双凤桥街道",
    community: str = "空港社区",
    visitors: tuple[str, ...] = ("王探访",),
    responsible: str = "李主任",
    categories: tuple[str, ...] = ("独居",),
    filed_on: date | None = None,
    id_number: str | None = None,
) -> Elder:
    """An elder in its own home with designated visitors and a 责任人."""
    home = Home(code=f"H-{code}", address="1号", district="渝北区", street=street, community=community)
    session.add(home)
    session.flush()
    elder = Elder(
        code=code,
        home_id=home.id,
        name=f"老人{code}",
        sex="女",
        phone="13800000000",
        tier=tier,
        categories=list(categories),
        filed_on=filed_on,
        id_number=id_number,
    )
    session.add(elder)
    session.flush()
    for i, name in enumerate(visitors):
        session.add(Contact(elder_id=elder.id, name=name, role="visitor", phone=f"1390000000{i}", priority=i))
    session.add(
        Contact(elder_id=elder.id, name=responsible, role="responsible", phone="13700000000", priority=9)
    )
    session.add(
        Contact(
            elder_id=elder.id,
            name="张儿子",
            role="relative",
            relation="儿子",
            phone="13600000000",
            priority=5,
        )
    )
    session.flush()
    session.refresh(elder)
    return elder


def open_alert(session: Session, elder: Elder, at: datetime, kind: str = "sos") -> Alert:
    """An active elder-class alert in the elder's home."""
    home = session.get(Home, elder.home_id)
    assert home is not None
    alert = Alert(
        home_id=home.id,
        kind=kind,
        severity="critical",
        alert_class="elder",
        state="open",
        active_key=f"{home.code}/{kind}",
        device_code="",
        explanation="一键呼叫",
        count=1,
        opened_at=at,
        last_seen_at=at,
    )
    session.add(alert)
    session.flush()
    return alert


def utc(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
