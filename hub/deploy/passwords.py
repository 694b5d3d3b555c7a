"""Mosquitto password-file hashes in mosquitto 2.0's ``$7$`` format (PBKDF2-HMAC-SHA512).

A line of the password file is ``<username>:$7$<iterations>$<base64 salt>$<base64 hash>``, with a 12-byte
salt, 101 iterations and a 64-byte derived key, base64 with padding — what ``mosquitto_passwd`` 2.0 writes.
tests/deploy/test_passwords.py checks both directions against the real ``mosquitto_passwd``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

# mosquitto_passwd 2.0's defaults (SALT_LEN, PW_DEFAULT_ITERATIONS, the SHA-512 digest length).
SALT_BYTES = 12
ITERATIONS = 101
KEY_BYTES = 64
PREFIX = "$7$"


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``$7$…`` hash of `password` with a fresh random salt (or `salt`, for tests)."""
    if not password:
        raise ValueError("an empty password cannot be hashed: Mosquitto would refuse the user")
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, KEY_BYTES)
    return f"{PREFIX}{iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether `password` matches a ``$7$`` hash; ``ValueError`` if `hashed` is not one."""
    parts = hashed.split("$")
    # "$7$101$salt$hash".split("$") == ["", "7", "101", "salt", "hash"]
    if len(parts) != 5 or parts[0] or parts[1] != "7" or not parts[2].isdigit():
        raise ValueError(f"not a mosquitto $7$ password hash: {hashed[:20]!r}…")
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the salt or hash of {hashed[:20]!r}… is not base64") from exc
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(parts[2]), len(expected))
    return hmac.compare_digest(key, expected)


def new_password() -> str:
    """A random password for a device: 24 URL-safe characters (144 bits), easy to type into a web form."""
    return secrets.token_urlsafe(18)
