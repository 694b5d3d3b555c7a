"""The care loop's planner leaves the SQLite register writable while it scans (an SOS's alert must not wait)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select

from hub.care.loop import plan_once
from hub.care.settings import CareConfig
from hub.care.tables import CareTask
from hub.clock import FrozenClock
from hub.register.db import make_engine, migrate, session_factory
from hub.register.models import Alert
from tests.care.conftest import add_elder, open_alert, utc

TZ = ZoneInfo("Asia/Shanghai")


def test_a_planner_run_never_reads_while_holding_the_write_lock(tmp_path: Path) -> None:
    """Before every statement the planner reads with, another connection must be able to start writing at
    once (no busy wait): the planner's writes are short bursts at the end of each step, each committed,
    so a lane batch with an SOS is never queued behind a scan of every elder."""
    path = tmp_path / "register.db"
    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        elders = [add_elder(session, f"E{i:02d}", tier="key" if i % 3 == 0 else "general") for i in range(24)]
        open_alert(session, elders[5], utc(2026, 11, 9, 23))
        open_alert(session, elders[7], utc(2026, 11, 9, 23))

    other = sqlite3.connect(path, timeout=0, isolation_level=None)  # a second writer that will not wait
    blocked: list[str] = []
    reads = 0

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal reads
        if not statement.lstrip().upper().startswith("SELECT"):
            return
        reads += 1
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            blocked.append(f"{exc}: {statement.split()[0:6]}")

    event.listen(engine, "before_cursor_execute", before)
    try:
        run = plan_once(sessions, CareConfig(), TZ, FrozenClock(utc(2026, 11, 10, 2)))
    finally:
        event.remove(engine, "before_cursor_execute", before)
        other.close()

    assert (run.visit_tasks, run.alert_tasks, run.review_tasks) == (24, 2, 24)
    assert reads > 5  # the hook saw the planner's reads
    assert blocked == []
    with sessions() as session:  # everything it planned was committed
        assert session.scalar(select(func.count()).select_from(CareTask)) == 50
        assert session.scalar(select(func.count()).select_from(Alert)) == 2
    engine.dispose()


def _planner_reads(tmp_path: Path, elders: int) -> int:
    url = f"sqlite:///{tmp_path / f'register-{elders}.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        for i in range(elders):
            add_elder(session, f"E{i:03d}", tier="key" if i % 3 == 0 else "general")
    reads = 0

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal reads
        reads += statement.lstrip().upper().startswith("SELECT")

    event.listen(engine, "before_cursor_execute", count)
    run = plan_once(sessions, CareConfig(), TZ, FrozenClock(utc(2026, 11, 10, 2)))
    engine.dispose()
    assert (run.visit_tasks, run.review_tasks) == (elders, elders)
    return reads


def test_the_planner_reads_no_more_for_more_elders(tmp_path: Path) -> None:
    """The scan asks the register a fixed number of questions, not some per elder: a district's planner run
    competes with the SOS lane for the interpreter, and three queries per elder made it seconds long."""
    assert _planner_reads(tmp_path, 40) == _planner_reads(tmp_path, 10)
