"""A partitioned instance's alert worker acts for its own homes only, however many homes that is.

An instance that owns every partition of a city (a survivor after failover) has more homes than PostgreSQL
takes parameters in one statement (65,535): its claims must still work, and still leave other homes alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from hub.alerts.channels.log import LogNotifier
from hub.alerts.escalation import NEW
from hub.alerts.tables import Escalation, OutboxMessage
from hub.alerts.worker import AlertWorker
from hub.cluster import HomeScope
from hub.models import AlertCandidate, Severity
from hub.register.models import Home
from tests.alerts.site import VISITOR
from tests.alerts.world import World
from tests.services.postgres import fresh_database

# More homes than one PostgreSQL statement could name as parameters.
CITY = 70_000


@pytest.fixture(params=[("sqlite", 200), ("postgresql", CITY)], ids=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[World, int]]:
    """The alert site plus `homes` more homes, on SQLite or on a PostgreSQL database of its own."""
    kind, homes = request.param
    if kind == "sqlite":
        w = World(tmp_path)
        _add_homes(w, homes)
        yield w, homes
        return
    with fresh_database() as url:
        w = World(tmp_path, url)
        _add_homes(w, homes)
        yield w, homes


def _add_homes(w: World, homes: int) -> None:
    with w.sessions.begin() as session:
        session.execute(insert(Home), [{"code": f"X{i:06d}", "street": "双龙湖街道"} for i in range(homes)])


def _sos(w: World, home: str) -> int:
    cand = AlertCandidate(home, "sos", Severity.CRITICAL, w.clock.now(), f"{home}-sos", "SOS 报警", "elder")
    [change] = w.writer.commit([], [cand], {}, w.clock.now())
    return change.alert_id


async def test_the_worker_serves_every_owned_home_and_no_other(world: tuple[World, int]) -> None:
    w, homes = world
    mine = _sos(w, "H001")
    theirs = _sos(w, "X000000")
    with w.sessions() as session:
        owned = frozenset(session.scalars(select(Home.id).where(Home.code != "X000000")))
    assert len(owned) == homes  # the site's H001 and every added home but one
    log = LogNotifier()
    worker = AlertWorker(
        w.sessions, w.escalator, {"log": log}, w.config, w.clock, scope=lambda: HomeScope(owned, True)
    )

    await worker.run_once()

    told = {n.recipient for n in log.sent}
    assert VISITOR in told  # the owned home's SOS went out to its visitor, first step
    assert {n.alert_id for n in log.sent} == {mine}
    with w.sessions() as session:
        esc = session.scalar(select(Escalation).where(Escalation.alert_id == theirs))
        assert esc is not None and esc.status == NEW  # left to the instance that owns that home
        assert not session.scalars(select(OutboxMessage).where(OutboxMessage.alert_id == theirs)).all()
        sent = session.scalars(select(OutboxMessage.status).where(OutboxMessage.alert_id == mine)).all()
    assert sent and set(sent) == {"sent"}
    # The other home's escalation is due now, but it is not this instance's: it does not make it wake.
    assert await worker.run_once() > 0
