"""Register tables owned by hub.web: users, their sessions and API tokens, and the audit log.

Secrets are never stored: passwords as argon2 hashes, session ids and API tokens as sha256 hex (they are
long random values, so a fast hash suffices; the raw value exists only in the client).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.register.models import Base, UTCDateTime


class WebUser(Base):
    """Someone who signs in: role and jurisdiction decide what they see (see hub.web.scope)."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(
        String(16)
    )  # admin | street | community | visitor | relative | maintenance
    street: Mapped[str] = mapped_column(String(64), default="")  # 乡镇（街道） of street/community staff
    community: Mapped[str] = mapped_column(String(64), default="")  # 村（社区） of community staff
    phone: Mapped[str] = mapped_column(String(32), default="")  # visitors are matched to Contact rows by it
    # Elder codes: a relative's own elder, a visitor's explicit assignments (besides the phone match).
    elders: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(255), default="")  # argon2id; "" = no web login
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    sessions: Mapped[list[WebSession]] = relationship(back_populates="user", cascade="all, delete-orphan")


class WebSession(Base):
    """A signed-in browser: the cookie holds the id, the row its hash and the CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[WebUser] = relationship(back_populates="sessions")


class ApiToken(Base):
    """A bearer token of an API client, acting as its user."""

    __tablename__ = "web_api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One line of the append-only audit log (hub.web.audit writes it; nothing updates or deletes it,
    except the retention purge of rows older than the retention period)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # user name, or what was typed at a failed login
    role: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(32), index=True)  # see hub.web.audit.ACTIONS
    target: Mapped[str] = mapped_column(String(128), default="")  # elder code, alert id, export name …
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok | denied | failed
    ip: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
