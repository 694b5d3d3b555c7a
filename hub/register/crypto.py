"""Personal data at rest: AES-GCM encrypted columns and a keyed hash of the ID number.

Field encryption is a storage concern: the register's own tables (the elder's phone), the care programme's
(ID numbers, health fields) and migration 0004 all store through `EncryptedText`, so it lives here, at the
bottom with the register, and depends on nothing above it.

The 身份证号, the elder's phone numbers and the health fields are stored through `EncryptedText`: each value
becomes ``v1:`` + base64(12-byte random nonce + AES-256-GCM ciphertext and tag), so neither a copy of the
SQLite file nor a dump of the PostgreSQL database shows them. The import looks elders up by `id_hash`, an
HMAC-SHA256 of the number under a key derived from the data key (deterministic, so it can be indexed, but
useless without the key).

The key (32 bytes) comes from, in this order: `configure_data_key` (the hub calls it with ``data_dir`` when
it opens the register), the environment variable ``HUB_DATA_KEY`` (base64), or the key file
``<data_dir>/data.key`` created on first use with mode 0600 (``data_dir`` defaults to ``data`` like the
config). Losing the key loses the encrypted fields: back it up with the database, but never beside it.

Keys configured earlier in the same process stay usable for reading (a key ring, newest first): values are
always written with the newest key, and one process that opens registers of several data folders (the test
suite, a key rotation) can still read what it wrote before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from hub.register.errors import DataKeyError

ENV_DATA_KEY = "HUB_DATA_KEY"
KEY_FILE_NAME = "data.key"
DEFAULT_DATA_DIR = Path("data")
_PREFIX = "v1:"
_NONCE_BYTES = 12
_HASH_CONTEXT = b"eldercare-hub id-number lookup v1"

_lock = threading.Lock()
_key: bytes | None = None
_older: list[bytes] = []  # keys configured before `_key`, still tried when decrypting


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DataKeyError(f"{origin}: 数据密钥不是有效的 base64 文本") from exc
    if len(key) != 32:
        raise DataKeyError(f"{origin}: 数据密钥应为 32 字节，实际为 {len(key)} 字节")
    return key


def _key_from_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE_NAME
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write their own key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            return _decode_key(path.read_text(encoding="ascii"), str(path))
        except OSError as exc:
            raise DataKeyError(f"{path}: 无法读取数据密钥文件: {exc}") from exc
    except OSError as exc:
        raise DataKeyError(f"{path}: 无法创建数据密钥文件: {exc}") from exc
    key = AESGCM.generate_key(bit_length=256)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(base64.b64encode(key).decode("ascii") + "\n")
    return key


def configure_data_key(data_dir: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Choose the data key for this process: ``HUB_DATA_KEY`` if set, else the key file in `data_dir`."""
    global _key
    env_map = os.environ if env is None else env
    with _lock:
        if env_map.get(ENV_DATA_KEY):
            key = _decode_key(env_map[ENV_DATA_KEY], ENV_DATA_KEY)
        else:
            key = _key_from_file(Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR)
        if _key is not None and _key != key and _key not in _older:
            _older.insert(0, _key)
        if key in _older:
            _older.remove(key)
        _key = key


def data_key() -> bytes:
    """The data key, resolved on first use when `configure_data_key` was not called."""
    if _key is None:
        configure_data_key()
    assert _key is not None
    return _key


def encrypt(plaintext: str) -> str:
    """Encrypt text into the stored form ``v1:<base64>``."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(data_key()).encrypt(nonce, plaintext.encode("utf-8"), None)
    return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def decrypt(stored: str) -> str:
    """Open a value made by `encrypt`; a wrong key or a tampered value is a `DataKeyError`."""
    if not stored.startswith(_PREFIX):
        raise DataKeyError("存储的值不是加密格式（缺少 v1: 前缀）")
    try:
        raw = base64.b64decode(stored[len(_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DataKeyError("存储的个人信息已损坏（不是有效的 base64）") from exc
    for key in (data_key(), *_older):
        try:
            plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None)
        except (InvalidTag, ValueError):
            continue
        return plain.decode("utf-8")
    raise DataKeyError("无法解密存储的个人信息：数据密钥不对或数据已损坏")


def id_hash(number: str) -> str:
    """Deterministic keyed hash (HMAC-SHA256, hex) of a normalised ID number, for lookups and uniqueness."""
    subkey = hmac.new(data_key(), _HASH_CONTEXT, hashlib.sha256).digest()
    return hmac.new(subkey, number.strip().upper().encode("ascii"), hashlib.sha256).hexdigest()


class EncryptedText(TypeDecorator[str]):
    """A text column stored AES-GCM encrypted; Python code sees plain text (None stays NULL)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Encrypt on the way in."""
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        """Decrypt on the way out."""
        return None if value is None else decrypt(value)
