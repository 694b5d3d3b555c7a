"""Database plumbing of the register: engines, migrations and sessions.

SQLite (one file, for a single hub) and PostgreSQL (psycopg 3, ``postgresql+psycopg://``) are both supported.
The schema is owned by the Alembic migrations in ``hub/register/migrations``; `migrate` applies them without
any ``alembic.ini``, so it works from an installed package. SQLAlchemy and driver errors are turned into
`RegisterError` here, with the database named but its password hidden.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Engine,
    Integer,
    Text,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.register.errors import RegisterError

LOGGER = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# PostgreSQL advisory lock key held while migrating (any fixed number no other code uses).
MIGRATION_LOCK = 0x656C6465  # "elde"

# How long a SQLite writer waits for another writer's lock before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def retryable(exc: BaseException | None) -> bool:
    """True for PostgreSQL's deadlock victim (40P01) and serialization failure (40001): the transaction was
    rolled back whole, so running it again is safe (and the right answer; stopping the hub is not)."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def safe_url(url: str | URL) -> str:
    """The URL as text with its password masked, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def among(session: Session, column: ColumnElement[int], ids: frozenset[int]) -> ColumnElement[bool]:
    """`column IN ids`, for any number of ids: on PostgreSQL one array parameter, unnested on the server.

    An IN list binds one parameter per id, and PostgreSQL refuses a statement with more than 65,535 of
    them: a hub instance that owns the homes of a whole city (a survivor that took every partition over)
    could then claim no alert at all. The list was also rendered anew on every execution, and planned
    element by element, which cost the alert worker more than the queries' work. As
    ``IN (SELECT unnest(CAST(:ids AS INTEGER[])))`` the server hashes the set once per statement; the array
    goes as one text value, which psycopg would otherwise escape element by element. SQLite (one process,
    no partitions) keeps the IN list.
    """
    if session.get_bind().dialect.name == "postgresql":
        array = cast(bindparam(None, _array_text(ids), type_=Text), ARRAY(Integer))
        return column.in_(select(func.unnest(array)))
    return column.in_(ids)


@functools.lru_cache(maxsize=8)
def _array_text(ids: frozenset[int]) -> str:
    # Cached: the alert worker passes the same set (its partitions' homes) to every claim's queries.
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


def make_engine(url: str) -> Engine:
    """An engine for `url`, set up for the register.

    SQLite: the file's folder is created, and every connection gets WAL journaling (readers never block the
    writer), foreign keys on (SQLite leaves them off) and a busy timeout. PostgreSQL: connections are checked
    before use, so a restarted server does not hand out dead connections.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise RegisterError(f"invalid database URL {safe_url(url)!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed)
            event.listen(engine, "connect", _configure_sqlite_connection)
        elif backend == "postgresql":
            engine = create_engine(parsed, pool_pre_ping=True)
        else:
            raise RegisterError(
                f"unsupported database {safe_url(parsed)!r}: use sqlite:///<file> or postgresql+psycopg://…"
            )
    except (SQLAlchemyError, ImportError, OSError) as exc:
        raise RegisterError(f"cannot set up the database at {safe_url(parsed)}: {exc}") from exc
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Pragmas that must be set on every new SQLite connection (they are not stored in the file)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def alembic_config() -> Config:
    """The Alembic configuration, built in code so that it needs no ``alembic.ini`` next to the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine_or_url: Engine | str) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``); a current database is untouched."""
    if isinstance(engine_or_url, Engine):
        _upgrade(engine_or_url)
        return
    engine = make_engine(engine_or_url)
    try:
        _upgrade(engine)
    finally:
        engine.dispose()


def _upgrade(engine: Engine) -> None:
    config = alembic_config()
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot connect to the database at {safe_url(engine.url)}: {exc}") from exc
    try:
        with connection, connection.begin():
            if engine.dialect.name == "postgresql":
                # Hubs of one cluster start together: one migrates, the others wait and find it done.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            # env.py runs the migrations on this connection instead of opening its own.
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot migrate the database at {safe_url(engine.url)}: {exc}") from exc
    except CommandError as exc:
        raise RegisterError(f"migration of the database at {safe_url(engine.url)} failed: {exc}") from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit (handy when passing them on)."""
    return sessionmaker(engine, expire_on_commit=False)
