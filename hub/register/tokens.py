"""HTTP ingest tokens: one secret per device, of which the register keeps only the SHA-256 hash.

A token is shown once, when issued; issuing again replaces it (the old one stops working). The caller
commits the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.devices.model import Binding
from hub.register.bindings import binding_of
from hub.register.errors import RegisterError
from hub.register.models import Device, Home

# 32 random bytes: far beyond guessing, and short enough for a device's config field (43 characters).
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, device_code: str) -> str:
    """Give the device a new token and return it; only its hash is stored, so it cannot be shown again."""
    try:
        device = session.scalar(select(Device).where(Device.code == device_code))
        if device is None:
            raise RegisterError(f"no device with code {device_code!r} in the register")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        device.token_sha256 = token_hash(token)
        session.flush()
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot store a token for device {device_code!r}: {exc}") from exc
    return token


def device_for_token(session: Session, token: str) -> Binding | None:
    """The device the token belongs to, or None for an empty, unknown or replaced token."""
    if not token:
        return None
    digest = token_hash(token)
    try:
        # Looking up by the hash leaks nothing useful through timing: the caller cannot choose hash prefixes.
        row = session.execute(
            select(Device, Home.code)
            .join(Home, Device.home_id == Home.id)
            .where(Device.token_sha256 == digest)
        ).first()
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot look up a device token in the register: {exc}") from exc
    if row is None:
        return None
    device, home_code = row
    # Confirm in constant time rather than trusting the database's string comparison (collations, case).
    if device.token_sha256 is None or not hmac.compare_digest(device.token_sha256, digest):
        return None
    return binding_of(device, home_code)
