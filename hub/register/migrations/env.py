"""Alembic environment of the register.

`hub.register.db.migrate` hands over an open connection in ``config.attributes["connection"]``; without one
(the ``alembic`` command line with ``-x url=…``, or ``sqlalchemy.url`` set on the config) an engine is
made here.
There is no logging setup: the hub configures logging itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from hub.register.db import make_engine
from hub.register.schema import Base

TARGET_METADATA = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=TARGET_METADATA,
        # SQLite cannot ALTER most things; batch mode copies the table instead, elsewhere it is a no-op.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database given: pass -x url=<database URL> or use hub.register.db.migrate")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them against a database")
_run_online()
