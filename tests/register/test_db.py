"""Engines and migrations: the migrated database matches the models on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from hub.register import RegisterError
from hub.register.db import alembic_config, make_engine, migrate
from hub.register.schema import Base


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_every_model_table_is_created(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)


def test_migrate_again_is_a_no_op_at_head(engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    migrate(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "folder" / "register.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert (conn.execute(text("PRAGMA busy_timeout")).scalar() or 0) > 0
        assert db.parent.is_dir()
    finally:
        engine.dispose()


def test_unreachable_database_is_a_register_error_without_the_password() -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    with pytest.raises(RegisterError, match="cannot connect to the database") as caught:
        migrate("postgresql+psycopg://hub:s3cret-pw@127.0.0.1:1/register")
    assert "s3cret-pw" not in str(caught.value)
    assert "127.0.0.1:1/register" in str(caught.value)
    assert caught.value.__cause__ is not None


def test_unsupported_or_malformed_url_is_a_register_error() -> None:
    with pytest.raises(RegisterError, match="unsupported database"):
        make_engine("mysql://root@localhost/x")
    with pytest.raises(RegisterError, match="invalid database URL"):
        make_engine("not a url")
