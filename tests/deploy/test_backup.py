"""`eldercare-hub backup` then `restore` into empty databases brings back the register, the alerts and the
time series — on SQLite and on PostgreSQL (real servers; pg_dump/pg_restore as installed with PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy import select

from hub.models import Reading, Signal
from hub.register.db import make_engine, session_factory
from hub.register.models import Alert, AlertEvent, Elder, Home
from hub.store import SqliteStore
from tests.services.postgres import _admin_connection, _url
from tests.site_fixture import make_site

OPENED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def register_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URL of the register to back up, URL of an empty database to restore into)."""
    if request.param == "sqlite":
        yield (
            f"sqlite:///{tmp_path / 'live' / 'register.sqlite'}",
            f"sqlite:///{tmp_path / 'new' / 'register.sqlite'}",
        )
        return
    request.getfixturevalue("postgres_url")  # makes sure the server runs
    names = [f"eldercare_bk_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with _admin_connection() as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url(names[0]), _url(names[1])
    finally:
        with _admin_connection() as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _config(path: Path, data_dir: Path, register_url: str) -> Path:
    path.write_text(f'data_dir = "{data_dir}"\n[register]\nurl = "{register_url}"\n', encoding="utf-8")
    return path


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "hub.cli", "--config", str(config), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def _snapshot(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return {
                "homes": sorted(session.scalars(select(Home.code))),
                "elders": sorted(session.scalars(select(Elder.name))),
                "alerts": sorted(
                    (a.kind, a.state, a.count, a.active_key, a.opened_at)
                    for a in session.scalars(select(Alert))
                ),
                "events": sorted((e.event, e.detail) for e in session.scalars(select(AlertEvent))),
            }
    finally:
        engine.dispose()


async def test_a_backup_restores_the_register_alerts_and_readings(
    register_pair: tuple[str, str], tmp_path: Path
) -> None:
    live_url, new_url = register_pair
    (tmp_path / "live").mkdir(exist_ok=True)
    sessions = make_site(tmp_path / "live", url=live_url)
    with sessions.begin() as session:
        home = session.scalars(select(Home).where(Home.code == "H001")).one()
        alert = Alert(
            home_id=home.id,
            kind="sos",
            severity="critical",
            alert_class="elder",
            state="open",
            active_key="H001/sos",
            device_code="H001-sos",
            explanation="按下紧急呼叫按钮",
            count=2,
            opened_at=OPENED,
            last_seen_at=OPENED + timedelta(minutes=1),
        )
        alert.events.append(AlertEvent(at=OPENED, event="opened", detail="按下紧急呼叫按钮"))
        session.add(alert)
    sessions.kw["bind"].dispose()
    async with SqliteStore(tmp_path / "live" / "timeseries.sqlite") as store:
        await store.write([Reading("H001", "H001-water", Signal.WATER_TOTAL, 130.0, OPENED, "L")])
    before = _snapshot(live_url)
    assert before["alerts"] and before["elders"]

    live = _config(tmp_path / "live.toml", tmp_path / "live", live_url)
    backup = _cli(live, "backup", str(tmp_path / "backup"))
    assert backup.returncode == 0, backup.stderr

    new = _config(tmp_path / "new.toml", tmp_path / "new", new_url)
    restore = _cli(new, "restore", str(tmp_path / "backup"))
    assert restore.returncode == 0, restore.stderr
    assert _snapshot(new_url) == before
    async with SqliteStore(tmp_path / "new" / "timeseries.sqlite") as restored:
        rows = await restored.query("H001", Signal.WATER_TOTAL, OPENED, OPENED + timedelta(seconds=1))
    assert [r.value for r in rows] == [130.0]

    # Restoring again would merge into a register that is no longer empty: refused, naming the reason.
    again = _cli(new, "restore", str(tmp_path / "backup"))
    assert again.returncode != 0 and "already" in again.stderr


def test_restore_refuses_a_folder_that_is_not_a_backup(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    config = _config(tmp_path / "c.toml", tmp_path / "data", f"sqlite:///{tmp_path / 'r.sqlite'}")
    run = _cli(config, "restore", str(tmp_path / "half"))
    assert run.returncode != 0 and "manifest.json" in run.stderr
