"""PostgreSQL for the tests: a real local server, one fresh database per test session.

The server is normally running already (socket and 127.0.0.1:5432, trust authentication, user postgres).
If it is not, it is started; if PostgreSQL is not installed at all, it is installed with apt-get. Tests are
never skipped for want of a database.

`register_url` runs a test on both backends: a SQLite file in the test's tmp_path, and a fresh schema in the
session's PostgreSQL database; either way the register is already migrated.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from hub.register.db import migrate

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
# The server takes a few seconds to accept connections after it starts; give up after this long.
PG_START_TIMEOUT_S = 60.0


def _pg_isready() -> bool:
    if shutil.which("pg_isready") is None:
        return False
    probe = ["pg_isready", "-q", "-h", PG_HOST, "-p", str(PG_PORT)]
    return subprocess.run(probe, check=False).returncode == 0


def _install_postgres() -> None:
    env_apt = ["apt-get", "-y", "-q"]
    subprocess.run([*env_apt, "update"], check=True)
    subprocess.run([*env_apt, "install", "postgresql"], check=True)
    # A fresh Debian cluster asks for passwords over TCP; the tests (like the normal setup) use trust.
    for hba in Path("/etc/postgresql").glob("*/main/pg_hba.conf"):
        hba.write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n",
            encoding="utf-8",
        )


def _start_postgres() -> None:
    clusters = Path("/etc/postgresql")
    if not clusters.is_dir() or not any(clusters.iterdir()):
        _install_postgres()
    for version in sorted(path.name for path in clusters.iterdir()):
        start = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"]
        # Exit code 2 means "already running", which is fine; anything else shows up in the wait below.
        subprocess.run(start, check=False)
    deadline = time.monotonic() + PG_START_TIMEOUT_S
    while not _pg_isready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL did not start accepting connections on {PG_HOST}:{PG_PORT}")
        time.sleep(0.5)


def _admin_connection(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def _url(dbname: str, schema: str | None = None) -> str:
    url = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"
    # libpq's options parameter: every connection of the engine works in that schema.
    return f"{url}?options=-csearch_path%3D{schema}" if schema else url


@contextmanager
def fresh_database() -> Iterator[str]:
    """URL of an empty PostgreSQL database made for the caller and dropped (with its connections) after."""
    if not _pg_isready():
        _start_postgres()
    name = f"eldercare_test_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url(name)
    finally:
        with _admin_connection() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty PostgreSQL database made for this test session and dropped after it."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def register_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a freshly migrated, empty register, on SQLite and on PostgreSQL (the test runs twice)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'register.db'}"
        migrate(url)
        yield url
        return
    session_url: str = request.getfixturevalue("postgres_url")
    dbname = session_url.rsplit("/", 1)[1]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _admin_connection(dbname) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        url = _url(dbname, schema)
        migrate(url)
        yield url
    finally:
        with _admin_connection(dbname) as conn:
            # A test that left a transaction open would make the drop wait forever; fail loudly instead.
            conn.execute("SET lock_timeout = '30s'")
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
