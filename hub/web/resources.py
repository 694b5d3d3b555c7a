"""Routes of the remaining resources: one elder (detail, audited reveal), homes' readings, devices and
their health, absences and care modes (through hub.rules.calendar), and the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.care.idcard import mask_phone
from hub.care.register import elder_summary
from hub.models import Reading, Signal
from hub.register.models import Alert, Device, Elder, Home
from hub.register.site import SafeZoneEntry, safe_zone_values
from hub.rules import calendar
from hub.rules.errors import RulesError
from hub.web import audit
from hub.web.access import error, forbidden, in_session, json_response, query_int, require
from hub.web.auth import client_ip
from hub.web.scope import Principal, Scope
from hub.web.services import SERVICES

# Readings about the device rather than the person: what maintenance may see.
DEVICE_SIGNALS = frozenset({"battery", "battery_low", "availability", "link_quality"})
MAX_RANGE = timedelta(days=62)


def _home(session: Session, scope: Scope, code: str) -> Home:
    home = session.scalar(select(Home).where(Home.code == code))
    if home is None:
        raise error(web.HTTPNotFound, f"住户 {code} 不存在")
    if not scope.home_ok(home.id):
        raise forbidden(f"住户 {code} 不在您的管辖范围内")
    return home


def _elder(session: Session, scope: Scope, code: str) -> Elder:
    elder = session.scalar(select(Elder).where(Elder.code == code))
    if elder is None:
        raise error(web.HTTPNotFound, f"老年人 {code} 不存在")
    if not scope.elder_ok(elder.id):
        raise forbidden(f"老年人 {code} 不在您的管辖范围内")
    return elder


# Times the API accepts: every store can hold them, and a week or a time zone either side stays a date
# (0001-01-01 minus 7 days overflowed into a 500).
YEARS = range(1970, 2201)


def parse_time(raw: object, key: str) -> datetime:
    """An aware ISO 8601 time within `YEARS`; 400 naming `key` otherwise."""
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError as exc:
        raise error(web.HTTPBadRequest, f"{key} 应为 ISO 8601 时间（带时区），而不是 {raw!r}") from exc
    if value.tzinfo is None:
        raise error(web.HTTPBadRequest, f"{key} 须带时区，例如 2026-11-28T08:00:00+08:00")
    if value.year not in YEARS[1:-1]:  # a time zone may move the first and last year across the bound
        raise error(web.HTTPBadRequest, f"{key} 须在 {YEARS.start}–{YEARS.stop - 1} 年之间：{raw!r}")
    return value


def _time(request: web.Request, key: str, default: datetime) -> datetime:
    raw = request.query.get(key)
    return parse_time(raw, key) if raw else default


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise error(web.HTTPBadRequest, "请求体必须是 JSON 对象") from exc
    if not isinstance(data, dict):
        raise error(web.HTTPBadRequest, "请求体必须是 JSON 对象")
    return data


# -- elders -------------------------------------------------------------------------------------------


async def elder_detail(request: web.Request) -> web.Response:
    """GET /api/v1/elders/{code}: the masked record, contacts (phones masked) and home; audited."""
    who = require(request, "elders.read")
    code = request.match_info["code"]
    now = request.app[SERVICES].clock.now()
    ip = client_ip(request)

    def run(session: Session, scope: Scope, _w: Principal) -> dict[str, Any]:
        elder = _elder(session, scope, code)
        audit.record(session, at=now, actor=who.name, role=who.role, action="read_elder", target=code, ip=ip)
        out = elder_summary(elder)
        out["home"] = elder.home.code
        out["safe_zone"] = (
            None
            if elder.safe_lat is None or elder.safe_lon is None or elder.safe_radius_m is None
            else {
                "lat": elder.safe_lat,
                "lon": elder.safe_lon,
                "radius_m": elder.safe_radius_m,
                "datum": elder.safe_datum,
            }
        )
        out["contacts"] = [
            {"name": c.name, "role": c.role, "relation": c.relation, "phone": mask_phone(c.phone)}
            for c in elder.contacts
        ]
        return out

    out = await in_session(request, run, write=True)
    out["location"] = last_location(await request.app[SERVICES].store.latest(out["home"]))
    return json_response(out)


async def set_safe_zone(request: web.Request) -> web.Response:
    """PUT /api/v1/elders/{code}/safe-zone ``{"lat", "lon", "radius_m", "datum"?}``; DELETE removes it (audited).

    The rules read it at their next register refresh; the site file sets it too (``safe_zone``).
    """
    who = require(request, "elders.write")
    code = request.match_info["code"]
    now = request.app[SERVICES].clock.now()
    ip = client_ip(request)
    zone: SafeZoneEntry | None = None
    if request.method == "PUT":
        try:
            zone = SafeZoneEntry.model_validate(await _json_body(request))
        except ValidationError as exc:
            problems = "；".join(
                f"{'.'.join(str(p) for p in e['loc']) or '请求体'}: {e['msg']}" for e in exc.errors()
            )
            raise error(web.HTTPBadRequest, f"安全区域无效：{problems}") from exc

    def run(session: Session, scope: Scope, _w: Principal) -> dict[str, Any]:
        elder = _elder(session, scope, code)
        for name, value in safe_zone_values(zone).items():
            setattr(elder, name, value)
        action = "set_safe_zone" if zone else "clear_safe_zone"
        audit.record(session, at=now, actor=who.name, role=who.role, action=action, target=code, ip=ip)
        return {"code": code, "safe_zone": None if zone is None else zone.model_dump()}

    return json_response(await in_session(request, run, write=True))


# GEO_DATUM value → the datum's name, as shown to people.
DATUM_NAMES = {0: "WGS-84", 1: "GCJ-02"}


def last_location(latest: list[Reading]) -> dict[str, Any] | None:
    """The newest position among a home's latest readings (a wearable's), or None when none has one.

    Latitude, longitude and datum come from the same device, so a GCJ-02 position is never shown with a
    WGS-84 label: one report carries all three.
    """
    newest = max((r for r in latest if r.signal == Signal.LATITUDE), key=lambda r: r.ts, default=None)
    if newest is None:
        return None
    same = {r.signal: r.value for r in latest if r.device == newest.device}
    if Signal.LONGITUDE not in same:
        return None
    datum = int(same.get(Signal.GEO_DATUM, 0))
    return {
        "device": newest.device,
        "lat": newest.value,
        "lon": same[Signal.LONGITUDE],
        "ts": newest.ts.isoformat(),
        "datum": DATUM_NAMES.get(datum, str(datum)),
    }


async def reveal(request: web.Request) -> web.Response:
    """POST /api/v1/elders/{code}/reveal: the unmasked ID number, phones and health fields (audited)."""
    who = require(request, "elders.reveal")
    code = request.match_info["code"]
    now = request.app[SERVICES].clock.now()
    ip = client_ip(request)

    def run(session: Session, scope: Scope, _w: Principal) -> dict[str, Any]:
        elder = _elder(session, scope, code)
        audit.record(session, at=now, actor=who.name, role=who.role, action="reveal", target=code, ip=ip)
        return {
            "code": elder.code,
            "id_number": elder.id_number or "",
            "phone": elder.phone,
            "medical_history": elder.medical_history,
            "ability_notes": elder.ability_notes,
            "disability_cert_no": elder.disability_cert_no,
            "contacts": [{"name": c.name, "role": c.role, "phone": c.phone} for c in elder.contacts],
        }

    return json_response(await in_session(request, run, write=True))


# -- homes: readings, devices, health -------------------------------------------------------------------


async def readings(request: web.Request) -> web.Response:
    """GET /api/v1/homes/{code}/readings?signal=&from=&to= (default: the last 7 days, at most 62 days)."""
    require(request, "readings.read")
    svc = request.app[SERVICES]
    code = request.match_info["code"]
    now = svc.clock.now()
    end = _time(request, "to", now)
    start = _time(request, "from", end - timedelta(days=7))
    if end <= start:
        raise error(web.HTTPBadRequest, "to 必须晚于 from")
    if end - start > MAX_RANGE:
        raise error(web.HTTPBadRequest, f"时间范围不能超过 {MAX_RANGE.days} 天")
    raw_signal = request.query.get("signal") or None
    try:
        signal = Signal(raw_signal) if raw_signal else None
    except ValueError as exc:
        raise error(web.HTTPBadRequest, f"未知的信号 {raw_signal!r}") from exc
    await in_session(request, lambda s, scope, _w: _home(s, scope, code))
    rows = await svc.store.query(code, signal, start, end)
    return json_response(
        [
            {
                "device": r.device,
                "signal": str(r.signal),
                "value": r.value,
                "unit": r.unit,
                "ts": r.ts.isoformat(),
            }
            for r in rows
        ]
    )


async def devices(request: web.Request) -> web.Response:
    """GET /api/v1/devices: devices in reach with their health (last report, battery, open device alerts)."""
    require(request, "devices.read")
    svc = request.app[SERVICES]

    def run(session: Session, scope: Scope, _w: Principal) -> list[dict[str, Any]]:
        stmt = select(Device, Home).join(Home, Device.home_id == Home.id).order_by(Home.code, Device.code)
        if scope.home_ids is not None:
            stmt = stmt.where(Home.id.in_(scope.home_ids))
        open_alerts: dict[str, list[str]] = {}
        for dev, kind in session.execute(
            select(Alert.device_code, Alert.kind).where(
                Alert.active_key.is_not(None), Alert.alert_class == "device"
            )
        ):
            open_alerts.setdefault(dev, []).append(kind)
        return [
            {
                "code": d.code,
                "home": h.code,
                "address": h.address,
                "street": h.street,
                "community": h.community,
                "ecosystem": d.ecosystem,
                "model": d.model,
                "last_seen": None,
                "battery": None,
                "online": None,
                "open_alerts": open_alerts.get(d.code, []),
            }
            for d, h in session.execute(stmt)
        ]

    rows = await in_session(request, run)
    by_code = {r["code"]: r for r in rows}
    for r in await svc.store.latest():
        row = by_code.get(r.device)
        if row is None:
            continue
        ts = r.ts.isoformat()
        if row["last_seen"] is None or ts > row["last_seen"]:
            row["last_seen"] = ts
        if r.signal == Signal.BATTERY:
            row["battery"] = r.value
        elif r.signal == Signal.AVAILABILITY:
            row["online"] = r.value >= 0.5
    return json_response(rows)


# -- absences and care modes (hub.rules.calendar) -------------------------------------------------------


def _absence_dict(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "home": a.home_code,
        "start": a.start.isoformat(),
        "end": a.end.isoformat(),
        "reason": a.reason,
    }


def _mode_dict(m: Any) -> dict[str, Any]:
    return {
        "id": m.id,
        "kind": m.kind,
        "scope": m.scope,
        "street": m.street,
        "start": m.start.isoformat(),
        "end": m.end.isoformat(),
        "factor": m.factor,
        "note": m.note,
    }


async def absences(request: web.Request) -> web.Response:
    """GET /api/v1/absences[?home=CODE]: the elders' registered absences (外出) within reach."""
    require(request, "calendar.read")
    home = request.query.get("home") or None

    def run(session: Session, scope: Scope, _w: Principal) -> list[dict[str, Any]]:
        if home:
            _home(session, scope, home)
        codes = None
        if scope.home_ids is not None:
            codes = set(session.scalars(select(Home.code).where(Home.id.in_(scope.home_ids))))
        return [
            _absence_dict(a)
            for a in calendar.list_absences(session, home)
            if codes is None or a.home_code in codes
        ]

    return json_response(await in_session(request, run))


async def add_absence(request: web.Request) -> web.Response:
    """POST /api/v1/absences ``{"home", "start", "end", "reason"}``: the elder is away; no inactivity alarms."""
    who = require(request, "absences.write")
    body = await _json_body(request)
    now = request.app[SERVICES].clock.now()
    try:
        home, reason = str(body["home"]), str(body.get("reason", ""))
        raw_start, raw_end = body["start"], body["end"]
    except KeyError as exc:
        raise error(web.HTTPBadRequest, "需要 home、start、end（ISO 8601 带时区）") from exc
    start, end = parse_time(raw_start, "start"), parse_time(raw_end, "end")

    def run(session: Session, scope: Scope, _w: Principal) -> dict[str, Any]:
        _home(session, scope, home)
        row = calendar.add_absence(session, home, start, end, reason, now)
        audit.record(session, at=now, actor=who.name, role=who.role, action="absence", target=home)
        return _absence_dict(row)

    try:
        return json_response(await in_session(request, run, write=True), 201)
    except RulesError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from exc


async def modes(request: web.Request) -> web.Response:
    """GET /api/v1/modes: extreme-weather and festival modes (street staff: district-wide and their own)."""
    who = require(request, "calendar.read")

    def run(session: Session, _scope: Scope, _w: Principal) -> list[dict[str, Any]]:
        rows = calendar.list_modes(session)
        if who.role in ("street", "community"):
            rows = [m for m in rows if m.scope == "district" or m.street == who.street]
        return [_mode_dict(m) for m in rows]

    return json_response(await in_session(request, run))


async def add_mode(request: web.Request) -> web.Response:
    """POST /api/v1/modes ``{"kind", "scope", "street", "start", "end", "factor", "note"}``."""
    who = require(request, "modes.write")
    body = await _json_body(request)
    now = request.app[SERVICES].clock.now()
    try:
        kind, scope_kind = str(body["kind"]), str(body.get("scope", "district"))
        street = str(body.get("street", ""))
        raw_start, raw_end = body["start"], body["end"]
        factor, note = float(body.get("factor", 0.5)), str(body.get("note", ""))
    except (KeyError, ValueError, TypeError) as exc:
        raise error(web.HTTPBadRequest, "需要 kind、start、end（ISO 8601 带时区），factor 为数字") from exc
    start, end = parse_time(raw_start, "start"), parse_time(raw_end, "end")
    if who.role == "street" and (scope_kind != "street" or street != who.street):
        raise forbidden("镇街工作人员只能为本镇街设置关爱模式")

    def run(session: Session, _scope: Scope, _w: Principal) -> dict[str, Any]:
        row = calendar.add_mode(session, kind, scope_kind, street, start, end, factor, note, now)
        audit.record(session, at=now, actor=who.name, role=who.role, action="mode", target=f"{kind} {street}")
        return _mode_dict(row)

    try:
        return json_response(await in_session(request, run, write=True), 201)
    except RulesError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from exc


# -- audit log ------------------------------------------------------------------------------------------


async def audit_log(request: web.Request) -> web.Response:
    """GET /api/v1/audit?action=&actor=&limit=: newest first (district admin)."""
    require(request, "audit.read")
    limit = query_int(request, "limit", 200)
    action = request.query.get("action") or None
    actor = request.query.get("actor") or None
    return json_response(
        await in_session(
            request, lambda s, _sc, _w: audit.entries(s, action=action, actor=actor, limit=limit)
        )
    )


def add_routes(app: web.Application) -> None:
    """Add these routes to the hub's application."""
    app.router.add_get("/api/v1/elders/{code}", elder_detail)
    app.router.add_post("/api/v1/elders/{code}/reveal", reveal)
    app.router.add_put("/api/v1/elders/{code}/safe-zone", set_safe_zone)
    app.router.add_delete("/api/v1/elders/{code}/safe-zone", set_safe_zone)
    app.router.add_get("/api/v1/homes/{code}/readings", readings)
    app.router.add_get("/api/v1/devices", devices)
    app.router.add_get("/api/v1/absences", absences)
    app.router.add_post("/api/v1/absences", add_absence)
    app.router.add_get("/api/v1/modes", modes)
    app.router.add_post("/api/v1/modes", add_mode)
    app.router.add_get("/api/v1/audit", audit_log)
