"""Store fixtures: each shared behaviour test runs against SQLite, a real InfluxDB and the in-memory store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.store import InfluxStore, SqliteStore, TimeSeriesStore
from hub.store.memory import MemoryStore


@pytest.fixture
def influx_database() -> str:
    """A fresh database name per test so tests never see each other's points."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", "influx", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    """An open store of each kind."""
    if request.param == "sqlite":
        async with SqliteStore(tmp_path / "hub.sqlite") as sqlite_store:
            yield sqlite_store
    elif request.param == "memory":
        async with MemoryStore() as memory_store:
            yield memory_store
    else:
        url = request.getfixturevalue("influxdb_url")
        database = request.getfixturevalue("influx_database")
        async with InfluxStore(url, database, spool_dir=tmp_path / "spool") as influx_store:
            yield influx_store
