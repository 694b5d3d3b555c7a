"""HTTP routes of the care programme under /api/v1: elders, visits, tasks, reports, imports and exports.

The same operations as the `eldercare-hub` care commands. Blocking database and file work runs in a thread.
Exports and the bundle are returned as files (xlsx / zip); ID numbers are masked unless ``show_id=1`` and
``as=<name>`` names someone in ``care.id_viewers`` (audited).
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.care.errors import CareError
from hub.care.settings import CareConfig
from hub.register.errors import DataKeyError
from hub.web import audit
from hub.web.access import forbidden, in_session, require
from hub.web.auth import client_ip
from hub.web.scope import Principal, Scope
from hub.web.services import SERVICES

T = TypeVar("T")
CARE = web.AppKey("care_settings", tuple)  # (CareConfig, timezone name)
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _settings(request: web.Request) -> tuple[CareConfig, ZoneInfo]:
    config, tz = request.app[CARE]
    return config, ZoneInfo(tz)


async def _in_tx(request: web.Request, fn: Callable[[Session, Scope, Principal], T]) -> T:
    try:
        return await in_session(request, fn, write=True)
    except (CareError, DataKeyError) as exc:  # a value the data key cannot open is told like a care error
        raise web.HTTPBadRequest(
            text=json.dumps({"error": str(exc)}, ensure_ascii=False), content_type="application/json"
        ) from exc


def _now(request: web.Request) -> datetime:
    return request.app[SERVICES].clock.now().astimezone(UTC)


async def elders(request: web.Request) -> web.Response:
    """GET /api/v1/elders: the register within the caller's jurisdiction, ID numbers and phones masked."""
    from hub.care.register import all_elders, elder_summary

    require(request, "elders.read")
    return _json(
        await _in_tx(
            request, lambda s, scope, _w: [elder_summary(e) for e in all_elders(s) if scope.elder_ok(e.id)]
        )
    )


def elder_in_scope(session: Session, scope: Scope, ref: str) -> Any:
    """The elder `ref` if in scope: 403 when outside it, 400 (CareError) when unknown."""
    from hub.care.register import find_elder

    elder = find_elder(session, ref)
    if not scope.elder_ok(elder.id):
        raise forbidden(f"老年人 {ref} 不在您的管辖范围内")
    return elder


async def add_visit(request: web.Request) -> web.Response:
    """POST /api/v1/visits: a 附件3 visit as JSON ({"elder": code, "task": id?, "alert": id?, "service": {...}?, …fields})."""
    from hub.care.visits import add_service, record_visit, visit_dict, visit_input

    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text="请求体必须是 JSON 对象") from exc
    if not isinstance(body, dict) or not isinstance(body.get("elder"), str):
        raise web.HTTPBadRequest(text="请求体必须是含 elder（老人编号）的 JSON 对象")
    who = require(request, "visits.write")
    _config, tz = _settings(request)
    ip = client_ip(request)
    ref, task, alert, service = (
        body.pop("elder"),
        body.pop("task", None),
        body.pop("alert", None),
        body.pop("service", None),
    )
    alert_outcome = body.pop("alert_outcome", "visit_ok")  # what the visit found (hub.alerts.outcomes)

    def run(session: Session, scope: Scope, _who: Principal) -> dict[str, Any]:
        data = visit_input(body)
        visit = record_visit(
            session,
            elder_in_scope(session, scope, str(ref)),
            data,
            now=_now(request),
            task_id=task,
            alert_id=alert,
            alert_outcome=str(alert_outcome),
        )
        audit.record(
            session, at=_now(request), actor=who.name, role=who.role, action="visit", target=str(ref), ip=ip
        )
        if isinstance(service, dict):
            add_service(
                session,
                visit.elder,
                served_on=visit.visited_at.astimezone(tz).date(),
                description=str(service.get("description", "")),
                worker_signature=str(service.get("worker_signature", visit.visitor_name)),
                satisfaction=str(service.get("satisfaction", "")),
                visit=visit,
            )
        session.refresh(visit)
        return visit_dict(visit)

    return _json(await _in_tx(request, run), status=201)


async def list_visits(request: web.Request) -> web.Response:
    """GET /api/v1/visits?elder=CODE: visit records within the caller's jurisdiction."""
    from hub.care.visits import visit_dict, visits_between

    require(request, "visits.read")
    ref = request.query.get("elder")

    def run(session: Session, scope: Scope, _who: Principal) -> list[dict[str, Any]]:
        elder_id = elder_in_scope(session, scope, ref).id if ref else None
        return [
            visit_dict(v)
            for v in visits_between(session, datetime(1970, 1, 1, tzinfo=UTC), _now(request), elder_id)
            if scope.elder_ok(v.elder_id)
        ]

    return _json(await _in_tx(request, run))


async def tasks(request: web.Request) -> web.Response:
    """GET /api/v1/tasks?visitor=NAME&overdue=1."""
    from hub.care.plans import list_tasks
    from hub.register.models import Elder

    require(request, "tasks.read")
    visitor = request.query.get("visitor")
    overdue = request.query.get("overdue") in ("1", "true")

    def run(session: Session, scope: Scope, _who: Principal) -> list[dict[str, Any]]:
        rows = list_tasks(session, now=_now(request), visitor=visitor, overdue_only=overdue)
        if scope.elder_ids is None:
            return rows
        codes = set(session.scalars(select(Elder.code).where(Elder.id.in_(scope.elder_ids))))
        return [t for t in rows if t["elder"] in codes]

    return _json(await _in_tx(request, run))


async def visit_rate(request: web.Request) -> web.Response:
    """GET /api/v1/reports/visit-rate?month=2026-11."""
    from hub.care.reports import visit_rate as compute

    who = require(request, "reports.read")
    month = request.query.get("month", "")
    _config, tz = _settings(request)
    report = await _in_tx(request, lambda s, _scope, _w: compute(s, month, tz).to_dict())
    return _json(report if who.role == "admin" else narrow_report(report, who))


async def false_alarm_report(request: web.Request) -> web.Response:
    """GET /api/v1/reports/false-alarms?month=2026-11: false-alarm rate per rule and per home and rule."""
    from hub.care.reports import false_alarms

    require(request, "reports.read")
    month = request.query.get("month", "")
    _config, tz = _settings(request)
    return _json(await _in_tx(request, lambda s, scope, _w: false_alarms(s, month, tz, scope.home_ids)))


def narrow_report(report: dict[str, Any], who: Principal) -> dict[str, Any]:
    """The visit-rate report cut to a street's or community's own rows (the total becomes theirs)."""

    def mine(row: dict[str, Any]) -> bool:
        return row.get("street") == who.street and (
            who.role != "community" or row.get("community") == who.community
        )

    out = dict(report)
    out["by_street"] = [r for r in report["by_street"] if r["street"] == who.street]
    out["by_community"] = [r for r in report["by_community"] if mine(r)]
    out["by_visitor"] = []  # visitors cross streets; the district sees that table
    out["not_visited"] = [e for e in report["not_visited"] if mine(e)]
    out["short"] = [e for e in report["short"] if mine(e)]
    own = out["by_community"] if who.role == "community" else out["by_street"]
    empty = {"enrolled": 0, "visited": 0, "met": 0, "home_visits": 0, "rate": 1.0}
    out["total"] = {k: own[0][k] for k in empty} if own else empty
    return out


async def import_list(request: web.Request) -> web.Response:
    """POST /api/v1/imports?filename=x.xlsx&source=survey&dry_run=1 with the file as the body."""
    from hub.care.importer import import_file

    who = require(request, "imports")
    name = request.query.get("filename", "")
    source = request.query.get("source", "survey")
    dry_run = request.query.get("dry_run") in ("1", "true")
    data = await request.read()
    _config, tz = _settings(request)

    def run(session: Session, _scope: Scope, _who: Principal) -> dict[str, Any]:
        audit.record(session, at=_now(request), actor=who.name, role=who.role, action="import", target=name)
        report = import_file(
            session,
            Path(name),
            source=source,
            dry_run=dry_run,
            today=_now(request).astimezone(tz).date(),
            data=data,
        )
        if dry_run:
            session.rollback()
        return report.to_dict()

    return _json(await _in_tx(request, run))


async def export(request: web.Request) -> web.Response:
    """GET /api/v1/exports/{ledger|register|visits|bundle}?half=2026H2[&show_id=1&as=NAME]."""
    from hub.care.exports import (
        LedgerHeader,
        export_bundle,
        export_ledger,
        export_register,
        export_visits,
        half_bounds,
    )
    from hub.care.register import IdAccess, grant_id_access

    who = require(request, "exports")
    what = request.match_info["what"]
    config, tz = _settings(request)
    q = request.query
    # Full ID numbers are shown to the signed-in user only, if they are in care.id_viewers.
    actor = q.get("as") or who.name
    if actor != who.name:
        raise forbidden("只能以本人身份申请查看完整身份证号")
    ip = client_ip(request)
    now = _now(request)
    half = q.get("half") or f"{now.astimezone(tz).year}H{1 if now.astimezone(tz).month <= 6 else 2}"
    header = LedgerHeader(
        unit=q.get("unit", config.unit),
        leader=q.get("leader", config.leader),
        filler=q.get("filler", config.filler),
        filled_on=now.astimezone(tz).date(),
    )

    def run(session: Session, _scope: Scope, _who: Principal) -> tuple[bytes, str, str]:
        reveal = q.get("show_id") in ("1", "true")
        audit.record(
            session,
            at=now,
            actor=who.name,
            role=who.role,
            action="export",
            target=f"{what} {half}",
            ip=ip,
            detail={"show_id": reveal},
        )
        access = grant_id_access(
            session,
            IdAccess(reveal, actor),
            config.id_viewers,
            what=f"api export {what} {half}",
            now=now,
        )
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out.xlsx"
            if what == "ledger":
                export_ledger(session, out, half=half, tz=tz, header=header, access=access)
            elif what == "register":
                export_register(session, out, access=access)
            elif what == "visits":
                start, end = half_bounds(half, tz)
                export_visits(session, out, start=start, end=end, tz=tz, access=access)
            else:
                folder = Path(tmp) / "bundle"
                files = export_bundle(session, folder, half=half, tz=tz, header=header, access=access)
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                    for f in files:
                        zf.write(f, f.relative_to(folder).as_posix())
                return buf.getvalue(), "application/zip", f"bundle_{half}.zip"
            return out.read_bytes(), _XLSX, f"{what}_{half}.xlsx"

    body, ctype, filename = await _in_tx(request, run)
    return web.Response(
        body=body, content_type=ctype, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def add_routes(app: web.Application, care: CareConfig | None = None, timezone: str = "Asia/Shanghai") -> None:
    """Add the care routes to `app` (the care settings default to the config defaults)."""
    app[CARE] = (care or CareConfig(), timezone)
    app.router.add_get("/api/v1/elders", elders)
    app.router.add_get("/api/v1/visits", list_visits)
    app.router.add_post("/api/v1/visits", add_visit)
    app.router.add_get("/api/v1/tasks", tasks)
    app.router.add_get("/api/v1/reports/visit-rate", visit_rate)
    app.router.add_get("/api/v1/reports/false-alarms", false_alarm_report)
    app.router.add_post("/api/v1/imports", import_list)
    app.router.add_get(r"/api/v1/exports/{what:ledger|register|visits|bundle}", export)
