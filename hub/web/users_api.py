"""Users for the district admin: ``GET/POST /api/v1/users`` and ``POST /api/v1/users/{name}/disable|enable``.

The same operations as ``eldercare-hub user add|disable|enable``; every change is audited. A user is never
deleted (the audit log and visit records keep naming them): disabling ends their sessions and tokens.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.web import audit
from hub.web.access import error, in_session, json_response, require
from hub.web.auth import UserError, add_user, client_ip, set_disabled, user_dict
from hub.web.scope import Principal, Scope
from hub.web.services import SERVICES
from hub.web.tables import WebUser

MIN_PASSWORD = 8
# The register's column widths (hub/web/tables.py), so an over-long field is a 400, never a database error.
LIMITS = {"name": 64, "role": 16, "street": 64, "community": 64, "phone": 32, "password": 1024}
MAX_ELDERS = 200


async def users(request: web.Request) -> web.Response:
    """GET /api/v1/users: every user with role, jurisdiction and whether they are disabled (admin)."""
    require(request, "users.manage")

    def run(session: Session, _scope: Scope, _who: Principal) -> list[dict[str, Any]]:
        return [user_dict(u) for u in session.scalars(select(WebUser).order_by(WebUser.name))]

    return json_response(await in_session(request, run))


async def add(request: web.Request) -> web.Response:
    """POST /api/v1/users ``{"name", "role", "password", "street", "community", "phone", "elders": [...]}``."""
    who = require(request, "users.manage")
    try:
        body = await request.json()
    except ValueError as exc:
        raise error(web.HTTPBadRequest, "请求体必须是 JSON 对象") from exc
    if not isinstance(body, dict):
        raise error(web.HTTPBadRequest, "请求体必须是 JSON 对象")
    fields = {k: body.get(k, "") for k in ("name", "role", "password", "street", "community", "phone")}
    elders = body.get("elders", [])
    if not all(isinstance(v, str) for v in fields.values()) or not (
        isinstance(elders, list) and all(isinstance(e, str) for e in elders)
    ):
        raise error(
            web.HTTPBadRequest,
            "name、role、password、street、community、phone 须为字符串，elders 须为编号列表",
        )
    for key, limit in LIMITS.items():
        if len(fields[key]) > limit:
            raise error(web.HTTPBadRequest, f"字段 {key} 过长（最多 {limit} 个字符）")
    if len(elders) > MAX_ELDERS or any(len(e) > LIMITS["name"] for e in elders):
        raise error(web.HTTPBadRequest, f"elders 最多 {MAX_ELDERS} 个编号，每个最多 {LIMITS['name']} 个字符")
    if fields["password"] and len(fields["password"]) < MIN_PASSWORD:
        raise error(web.HTTPBadRequest, f"密码至少 {MIN_PASSWORD} 个字符")
    now = request.app[SERVICES].clock.now()
    ip = client_ip(request)

    def run(session: Session, _scope: Scope, _who: Principal) -> dict[str, Any]:
        user = add_user(
            session,
            fields["name"].strip(),
            fields["role"],
            now=now,
            password=fields["password"],
            street=fields["street"],
            community=fields["community"],
            phone=fields["phone"],
            elders=[e.strip() for e in elders if e.strip()],
        )
        audit.record(
            session, at=now, actor=who.name, role=who.role, action="user_add", target=user.name, ip=ip
        )
        return user_dict(user)

    try:
        return json_response(await in_session(request, run, write=True), 201)
    except UserError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from exc


async def _switch(request: web.Request, disabled: bool) -> web.Response:
    who = require(request, "users.manage")
    name = request.match_info["name"]
    now = request.app[SERVICES].clock.now()
    ip = client_ip(request)

    def run(session: Session, _scope: Scope, _who: Principal) -> dict[str, Any]:
        user = set_disabled(session, name, disabled, now=now, by=who.name, by_role=who.role, ip=ip)
        return user_dict(user)

    try:
        return json_response(await in_session(request, run, write=True))
    except UserError as exc:
        status = web.HTTPNotFound if "没有用户" in str(exc) else web.HTTPConflict
        raise error(status, str(exc)) from exc


async def disable(request: web.Request) -> web.Response:
    """POST /api/v1/users/{name}/disable: the user can no longer sign in; their sessions and tokens stop."""
    return await _switch(request, True)


async def enable(request: web.Request) -> web.Response:
    """POST /api/v1/users/{name}/enable: undo a disable."""
    return await _switch(request, False)


def add_routes(app: web.Application) -> None:
    """Add the user routes."""
    app.router.add_get("/api/v1/users", users)
    app.router.add_post("/api/v1/users", add)
    app.router.add_post("/api/v1/users/{name}/disable", disable)
    app.router.add_post("/api/v1/users/{name}/enable", enable)
