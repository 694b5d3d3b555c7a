"""Backup and restore of the register and the time series (``eldercare-hub backup`` / ``restore``).

A backup is a folder::

    manifest.json            what is in it, when it was made, the register's schema revision
    register.sqlite          SQLite register: an online copy made with SQLite's backup API
    register.pgdump          PostgreSQL register: ``pg_dump --format=custom``
    timeseries.sqlite        SQLite time series: online copy (store.kind = "sqlite")
    influxdb/                InfluxDB 1.x: ``influxd backup -portable`` (store.kind = "influxdb")

Restore goes into an *empty* database (a new SQLite path, a freshly created PostgreSQL database, an
InfluxDB without the database) and refuses anything else: merging a backup into live data is not a restore.
The hub brings a restored register up to its current schema by itself when it starts (it migrates).
External tools (``pg_dump``, ``pg_restore``, ``influxd``) are run as child processes; their failures become
`DeployError` with their own message.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hub.deploy.errors import DeployError
from hub.register.db import make_engine

MANIFEST = "manifest.json"
SQLITE_REGISTER = "register.sqlite"
PG_REGISTER = "register.pgdump"
SQLITE_TIMESERIES = "timeseries.sqlite"
INFLUX_DIR = "influxdb"


def _url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise DeployError(f"register URL {url!r} is not a database URL: {exc}") from exc


def _libpq(url: URL) -> str:
    """The libpq connection URI pg_dump/pg_restore take, from a SQLAlchemy PostgreSQL URL."""
    if "options" in url.query:
        # A search_path in the URL points at one schema; a dump of the database would not match it.
        raise DeployError(
            "backup/restore works on a whole PostgreSQL database; remove 'options' from the URL"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(argv: Sequence[str], what: str) -> None:
    binary = shutil.which(argv[0])
    if binary is None:
        raise DeployError(f"{what}: {argv[0]} is not installed (Debian: postgresql-client / influxdb)")
    try:
        result = subprocess.run([binary, *argv[1:]], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise DeployError(f"{what}: cannot run {argv[0]}: {exc}") from exc
    if result.returncode != 0:
        raise DeployError(
            f"{what}: {argv[0]} exited with {result.returncode}: {result.stderr.strip()[-2000:]}"
        )


def copy_sqlite(src: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (SQLite's online backup API, not a file copy)."""
    if not src.is_file():
        raise DeployError(f"SQLite database {src} does not exist")
    try:
        # sqlite3's own context manager commits but does not close, hence closing().
        with (
            closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as source,
            closing(sqlite3.connect(dest)) as target,
        ):
            source.backup(target)
    except sqlite3.Error as exc:
        raise DeployError(f"cannot copy SQLite database {src} to {dest}: {exc}") from exc


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return str(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())
    except SQLAlchemyError as exc:
        raise DeployError(f"cannot read the register at {_url(url).render_as_string()}: {exc}") from exc
    finally:
        engine.dispose()


def backup_register(url: str, dest: Path) -> dict[str, Any]:
    """Copy the register at `url` into the folder `dest`; returns its manifest entry."""
    parsed = _url(url)
    revision = _revision(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database:
            raise DeployError("an in-memory SQLite register cannot be backed up")
        copy_sqlite(Path(parsed.database), dest / SQLITE_REGISTER)
        return {"kind": "sqlite", "file": SQLITE_REGISTER, "revision": revision}
    if parsed.get_backend_name() == "postgresql":
        argv = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dest / PG_REGISTER}"]
        _run([*argv, f"--dbname={_libpq(parsed)}"], "register backup")
        return {"kind": "postgresql", "file": PG_REGISTER, "revision": revision}
    raise DeployError(f"cannot back up a {parsed.get_backend_name()} register (SQLite or PostgreSQL only)")


def _has_tables(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(inspect(conn).get_table_names())
    except SQLAlchemyError as exc:
        raise DeployError(f"cannot open the restore target {_url(url).render_as_string()}: {exc}") from exc
    finally:
        engine.dispose()


def restore_register(src: Path, url: str) -> None:
    """Restore the register in backup folder `src` into the empty database at `url`."""
    entry = read_manifest(src)["register"]
    parsed = _url(url)
    backend = parsed.get_backend_name()
    if backend != entry["kind"]:
        raise DeployError(f"the backup holds a {entry['kind']} register; the target {url!r} is {backend}")
    if backend == "sqlite":
        if not parsed.database:
            raise DeployError("cannot restore into an in-memory SQLite database")
        target = Path(parsed.database)
        if target.exists() and target.stat().st_size > 0 and _has_tables(url):
            raise DeployError(f"restore target {target} already holds tables; restore into a new file")
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_sqlite(src / entry["file"], target)
        return
    if _has_tables(url):
        raise DeployError("the restore target database already holds tables; create an empty database first")
    argv = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    _run([*argv, f"--dbname={_libpq(parsed)}", str(src / entry["file"])], "register restore")


def backup_influxdb(rpc_host: str, database: str, dest: Path) -> dict[str, Any]:
    """``influxd backup -portable`` of `database` through the RPC address `rpc_host` (host:port, 8088)."""
    _run(
        ["influxd", "backup", "-portable", "-host", rpc_host, "-db", database, str(dest / INFLUX_DIR)],
        "time-series backup",
    )
    return {"kind": "influxdb", "dir": INFLUX_DIR, "database": database}


def restore_influxdb(src: Path, rpc_host: str, database: str) -> None:
    """``influxd restore -portable`` into a server that does not have `database` yet."""
    entry = read_manifest(src)["timeseries"]
    if entry.get("kind") != "influxdb":
        raise DeployError(f"the backup holds a {entry.get('kind')} time series, not InfluxDB")
    argv = ["influxd", "restore", "-portable", "-host", rpc_host, "-db", entry["database"]]
    _run([*argv, "-newdb", database, str(src / entry["dir"])], "time-series restore")


def write_manifest(
    dest: Path, created_at: datetime, register: dict[str, Any], timeseries: dict[str, Any]
) -> None:
    """Write manifest.json, the last file of a backup (its presence marks the backup complete)."""
    doc = {"created_at": created_at.isoformat(), "register": register, "timeseries": timeseries}
    (dest / MANIFEST).write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of backup folder `src`; `DeployError` if it is not a complete backup."""
    try:
        doc = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DeployError(f"{src} is not a complete backup: {MANIFEST} is missing") from exc
    except (OSError, ValueError) as exc:
        raise DeployError(f"cannot read {src / MANIFEST}: {exc}") from exc
    if not isinstance(doc, dict) or "register" not in doc or "timeseries" not in doc:
        raise DeployError(f"{src / MANIFEST} does not describe a backup")
    return doc
