"""Guarantees of the schema that other parts of the hub rely on, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from hub.register.models import Alert, CounterState, Home

OPENED = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def _alert(home: Home, active_key: str | None, state: str = "open") -> Alert:
    return Alert(
        home=home,
        kind="sos",
        severity="critical",
        state=state,
        active_key=active_key,
        opened_at=OPENED,
        last_seen_at=OPENED,
    )


@pytest.fixture
def home(session: Session) -> Home:
    home = Home(code="H001")
    session.add(home)
    session.commit()
    return home


def test_many_closed_alerts_share_a_null_active_key(session: Session, home: Home) -> None:
    session.add_all([_alert(home, None, state="closed") for _ in range(3)])
    session.add(_alert(home, "H001/sos"))
    session.commit()
    assert len(session.scalars(select(Alert).where(Alert.active_key.is_(None))).all()) == 3


def test_only_one_active_alert_per_key(session: Session, home: Home) -> None:
    session.add(_alert(home, "H001/sos"))
    session.commit()
    session.add(_alert(home, "H001/sos"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    # Closing the first one (NULL key) makes room for a new active alert of the same kind.
    first = session.scalars(select(Alert)).one()
    first.active_key = None
    first.state = "closed"
    session.add(_alert(home, "H001/sos"))
    session.commit()
    assert session.scalars(select(Alert.active_key).where(Alert.active_key.is_not(None))).all() == [
        "H001/sos"
    ]


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    beijing = timezone(timedelta(hours=8))
    written = datetime(2026, 3, 1, 9, 15, 30, 123456, tzinfo=beijing)
    session.add(
        CounterState(device_code="H001-water", signal="water_total", last_raw=5.0, updated_at=written)
    )
    session.commit()
    session.expunge_all()
    read = session.scalars(select(CounterState.updated_at)).one()
    assert read == written
    assert read.utcoffset() == timedelta(0)
    assert read.hour == 1  # 09:15 at UTC+8 is 01:15 UTC


def test_naive_datetimes_are_refused(session: Session) -> None:
    naive = datetime(2026, 3, 1, 9, 15)
    session.add(CounterState(device_code="H001-water", signal="water_total", last_raw=5.0, updated_at=naive))
    with pytest.raises(StatementError, match="naive datetime"):
        session.commit()
    session.rollback()
    assert session.scalars(select(CounterState)).all() == []
