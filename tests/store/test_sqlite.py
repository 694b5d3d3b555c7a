"""SqliteStore specifics: a write is committed when it returns and survives reopening."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from hub.models import Signal
from hub.store import SqliteStore, StoreError
from tests.store.helpers import T0, heart_rates


async def test_a_returned_write_is_visible_to_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    async with SqliteStore(path) as store:
        await store.write(heart_rates("h", "d", 3))
        with sqlite3.connect(path) as other:
            (count,) = other.execute("SELECT count(*) FROM readings").fetchone()
            (mode,) = other.execute("PRAGMA journal_mode").fetchone()
    assert count == 3
    assert mode == "wal"


async def test_readings_survive_closing_and_reopening(tmp_path: Path) -> None:
    readings = heart_rates("h", "d", 5)
    async with SqliteStore(tmp_path / "hub.sqlite") as store:
        await store.write(readings)
    async with SqliteStore(tmp_path / "hub.sqlite", synchronous="FULL") as store:
        assert await store.query("h", Signal.HEART_RATE, T0, T0 + timedelta(minutes=1)) == readings
        assert [r.value for r in await store.latest("h")] == [64.0]


async def test_using_a_store_that_is_not_open_is_a_store_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.sqlite")
    with pytest.raises(StoreError, match="not open"):
        await store.write(heart_rates("h", "d", 1))


async def test_an_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StoreError, match=r"dir\.sqlite"):
        async with SqliteStore(tmp_path / "dir.sqlite"):
            pass
