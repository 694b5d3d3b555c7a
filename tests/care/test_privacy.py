"""Personal data at rest: a raw copy of the SQLite file or a dump of the PostgreSQL schema shows no ID
number, elder phone or diagnosis; the key file is private; a wrong key cannot open the values."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from hub.care.visits import record_visit, visit_input
from hub.register import crypto
from hub.register.errors import DataKeyError
from hub.register.models import Elder
from tests.care.conftest import add_elder, make_id, utc

SECRET_ID = make_id("50011219450305123")
PHONE = "13800000000"
DIAGNOSES = ("阿尔茨海默病", "脑梗塞后遗症")


def _raw_bytes(register_url: str, engine: Engine) -> bytes:
    engine.dispose()
    parts = urlsplit(register_url)
    if parts.scheme.startswith("sqlite"):
        db = Path(parts.path[1:] if parts.path.startswith("//") else parts.path)
        return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    schema = unquote(parts.query).split("search_path=")[1]
    dbname = parts.path.lstrip("/")
    dump = ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", schema, "--inserts", dbname]
    return subprocess.run(dump, check=True, capture_output=True).stdout


def test_raw_database_contains_no_plaintext_personal_data(
    register_url: str, engine: Engine, session: Session
) -> None:
    elder = add_elder(session, "E1", id_number=SECRET_ID)
    elder.id_hash = crypto.id_hash(SECRET_ID)
    elder.medical_history = DIAGNOSES[0]
    data = {"visited_at": utc(2026, 11, 3, 2), "method": "上门探访", "visitor_name": "王探访"}
    record_visit(
        session,
        elder,
        visit_input({**data, "illness": "严重", "illness_name": DIAGNOSES[1]}),
        now=utc(2026, 11, 3, 2),
    )
    session.commit()
    # Through the ORM everything reads back in clear.
    again = session.scalars(select(Elder)).one()
    assert (again.id_number, again.phone, again.medical_history) == (SECRET_ID, PHONE, DIAGNOSES[0])
    stored = session.execute(text("SELECT id_number, phone FROM elders")).one()
    assert stored[0].startswith("v1:") and stored[1].startswith("v1:")
    session.close()

    raw = _raw_bytes(register_url, engine)
    assert b"elders" in raw and crypto.id_hash(SECRET_ID).encode() in raw  # it is the real data
    for secret in (SECRET_ID, SECRET_ID[6:14] + SECRET_ID[14:], PHONE, *DIAGNOSES):
        assert secret.encode("utf-8") not in raw, secret


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    first = crypto._key_from_file(tmp_path / "data")
    path = tmp_path / "data" / crypto.KEY_FILE_NAME
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert crypto._key_from_file(tmp_path / "data") == first and len(first) == 32


def test_wrong_or_malformed_key_is_refused() -> None:
    saved, saved_older = crypto._key, list(crypto._older)
    try:
        crypto._key, crypto._older[:] = b"a" * 32, []
        sealed = crypto.encrypt("高血压")
        crypto._key = b"k" * 32  # a different key, the old one forgotten
        with pytest.raises(DataKeyError, match="无法解密"):
            crypto.decrypt(sealed)
        # Configuring a new key keeps the previous one for reading; new values use the new key.
        crypto._key = b"a" * 32
        crypto.configure_data_key(env={crypto.ENV_DATA_KEY: base64.b64encode(b"n" * 32).decode()})
        assert crypto.decrypt(sealed) == "高血压" and crypto.data_key() == b"n" * 32
        with pytest.raises(DataKeyError, match="32 字节"):
            crypto.configure_data_key(env={crypto.ENV_DATA_KEY: base64.b64encode(b"short").decode()})
    finally:
        crypto._key, crypto._older[:] = saved, saved_older
