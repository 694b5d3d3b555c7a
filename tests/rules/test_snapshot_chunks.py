"""The running hub's rules snapshot is written a chunk of homes at a time: no long lock, no long stall."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import event, insert

from hub.clock import FrozenClock
from hub.register.db import make_engine as make_db_engine
from hub.register.db import session_factory
from hub.rules import service as service_module
from hub.rules.persistence import load_snapshot
from hub.rules.service import RulesService
from hub.rules.settings import RulesConfig
from hub.rules.tables import RuleState
from hub.store.memory import MemoryStore
from tests.rules.helpers import local, make_engine, motion

HOMES = ("H1", "H2", "H3", "H4", "H5")


async def test_a_snapshot_is_written_in_short_transactions_and_replaces_only_this_instances_rows(
    register_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five homes with chunks of two: three short write transactions instead of one holding the register
    (SQLite's only write lock) for the whole snapshot, with the loop free in between; every home saved,
    the row of a home that left the register deleted, another partition's row kept."""
    monkeypatch.setattr(service_module, "SNAPSHOT_CHUNK", 2)
    db = make_db_engine(register_url)
    sessions = session_factory(db)
    with sessions.begin() as session:
        session.execute(
            insert(RuleState),
            [
                {"home_code": code, "state": {"old": True}, "saved_at": local(1, 10)}
                for code in ("GONE", "OTHER", "H1")
            ],
        )
    service = RulesService(
        RulesConfig(),
        "Asia/Shanghai",
        sessions=sessions,
        store=MemoryStore(),
        bindings=dict,
        clock=FrozenClock(local(2, 10)),
        owns=lambda code: code != "OTHER",  # OTHER is in another instance's partition
    )
    service.engine = make_engine("key", codes=HOMES)
    for home in HOMES:
        motion(service.engine, local(2, 9), home=home)

    rows_per_transaction: list[int] = []
    current = [0]

    @event.listens_for(db, "before_cursor_execute")
    def count_rows(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO RULE_STATE"):
            current[0] += len(params) if many else 1

    @event.listens_for(db, "commit")
    def end_transaction(conn: Any) -> None:
        rows_per_transaction.append(current[0])
        current[0] = 0

    turns = 0
    saving = True

    async def elsewhere() -> None:  # what else the hub does meanwhile (an SOS, say)
        nonlocal turns
        while saving:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(elsewhere())
    saved = await service.save()
    saving = False
    await other

    assert saved == 5
    assert max(rows_per_transaction) == 2
    assert sum(rows_per_transaction) == 5
    assert turns >= 3  # the loop ran between the chunks
    with sessions() as session:
        stored = load_snapshot(session)
    assert sorted(stored) == ["H1", "H2", "H3", "H4", "H5", "OTHER"]
    assert all(saved_at == local(2, 10) for code, (_, saved_at) in stored.items() if code != "OTHER")
    assert stored["OTHER"] == ({"old": True}, local(1, 10))
    assert stored["H3"][0] == json.loads(json.dumps(service.engine.snapshot(["H3"])["H3"]))
    db.dispose()
