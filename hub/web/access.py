"""Helpers every route uses: check the permission, compute the scope, run register work in a thread.

A refused permission or an object out of scope is a 403 (audited by `auth.deny_audit_middleware`);
an unknown object is a 404 only when it would be in scope, so that ids outside one's area reveal nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from hub.web.auth import current
from hub.web.scope import ROLES, Principal, Scope, scope_of
from hub.web.services import SERVICES

T = TypeVar("T")


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with Chinese kept readable."""
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def error(exc_type: type[web.HTTPException], message: str) -> web.HTTPException:
    """An HTTP error with a JSON body ``{"error": message}``."""
    return exc_type(text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json")


def forbidden(message: str) -> web.HTTPException:
    """A 403 naming what was refused."""
    return error(web.HTTPForbidden, message)


def require(request: web.Request, action: str) -> Principal:
    """The principal, if their role allows `action`; else 403."""
    who = current(request)
    if not who.may(action):
        raise forbidden(f"{ROLES[who.role]}无权进行此操作（{action}）")
    return who


async def in_session(
    request: web.Request, fn: Callable[[Session, Scope, Principal], T], *, write: bool = False
) -> T:
    """Run `fn(session, scope, principal)` in a thread, in a transaction when `write`."""
    who = current(request)
    sessions = request.app[SERVICES].sessions

    def run() -> T:
        if write:
            with sessions.begin() as session:
                return fn(session, scope_of(session, who), who)
        with sessions() as session:
            return fn(session, scope_of(session, who), who)

    return await asyncio.to_thread(run)


def query_int(request: web.Request, key: str, default: int, lo: int = 1, hi: int = 5000) -> int:
    """An integer query parameter clamped to [lo, hi]; 400 if it is not a number."""
    try:
        return max(lo, min(int(request.query.get(key, default)), hi))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{key} 必须是整数") from exc
