"""HTTP routes of the alert lifecycle: acknowledge/resolve/cancel, the timeline, and Twilio's webhooks.

Twilio webhooks (inbound SMS, the voice Gather action, status callbacks) are checked with the library's
`RequestValidator` against ``alerts.public_url`` + path; a forged or unsigned request gets 403.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from hub.alerts import lifecycle
from hub.alerts.adjust import list_adjustments, revert
from hub.alerts.coverage import coverage_gaps
from hub.alerts.errors import AlertError
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertsConfig
from hub.alerts.store import alert_to_dict
from hub.alerts.tables import OutboxMessage
from hub.care.idcard import mask_phones
from hub.register.models import Alert, AlertEvent, Home, RuleAdjustment
from hub.web import audit
from hub.web.access import error, forbidden, require
from hub.web.alert_views import scoped_alerts
from hub.web.auth import client_ip
from hub.web.scope import Principal, scope_of
from hub.web.services import SERVICES


@dataclass
class AlertsWeb:
    """What the alert routes need beyond the shared services: the running alert service."""

    service: AlertService


ALERTS = web.AppKey("alerts", AlertsWeb)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _twiml(inner: str) -> web.Response:
    return web.Response(
        text=f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>', content_type="text/xml"
    )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError as exc:
        raise error(web.HTTPBadRequest, "请求体必须是 JSON 对象") from exc
    if not isinstance(data, dict):
        raise error(web.HTTPBadRequest, "请求体必须是 JSON 对象")
    return data


# Longest accepted value per body field: `by` becomes the escalation's responder (64 characters in the
# register; PostgreSQL refuses longer, which would be a 500), the rest are bounded so a hostile or broken
# client cannot grow every alert's timeline without limit.
MAX_CHARS = {"by": 64, "via": 32, "outcome": 200, "reason": 500, "notes": 2000}


def _text(data: dict[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (required and not value.strip()):
        raise error(web.HTTPBadRequest, f"字段 {key} 必须是非空字符串")
    limit = MAX_CHARS.get(key)
    if limit is not None and len(value) > limit:
        raise error(web.HTTPBadRequest, f"字段 {key} 过长（最多 {limit} 个字符，收到 {len(value)} 个）")
    return value


def _by(data: dict[str, Any]) -> str:
    """Who acted, as the timeline names them (kept as the escalation's responder, at most 64 characters)."""
    return _text(data, "by")


def _alert_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["alert_id"])
    except ValueError as exc:
        raise error(web.HTTPNotFound, "告警编号必须是数字") from exc
    if not 0 < value < 2**31:  # beyond the id column (32-bit on PostgreSQL): no such alert
        raise error(web.HTTPNotFound, f"告警 {value} 不存在")
    return value


def _check_scope(session: Any, who: Principal, alert_id: int) -> None:
    """403 when the alert exists but lies outside the caller's jurisdiction (or class, for maintenance)."""
    row = session.get(Alert, alert_id)
    if row is not None and not scope_of(session, who).alert_ok(row.home_id, row.alert_class):
        raise forbidden(f"告警 {alert_id} 不在您的管辖范围内")


async def _transition(request: web.Request, apply: Any, action: str) -> web.Response:
    svc = request.app[SERVICES]
    who = require(request, "alerts.act")
    alert_id = _alert_id(request)
    data = await _body(request)
    data.setdefault("by", who.name)  # the signed-in user, unless a name for the timeline is given
    now = svc.clock.now()
    ip = client_ip(request)

    def run() -> dict[str, Any]:
        with svc.sessions.begin() as session:
            _check_scope(session, who, alert_id)
            alert = apply(session, alert_id, data, now)
            audit.record(
                session,
                at=now,
                actor=who.name,
                role=who.role,
                action=action,
                target=f"alert {alert_id}",
                ip=ip,
            )
            code = session.scalar(select(Home.code).where(Home.id == alert.home_id)) or ""
            return alert_to_dict(alert, code)

    try:
        result = await asyncio.to_thread(run)
    except AlertError as exc:
        status = 404 if "不存在" in str(exc) else 409
        return _json({"error": str(exc)}, status)
    alerts = request.app.get(ALERTS)
    if alerts is not None:
        alerts.service.worker.wake()  # a resolve queues FYI messages
    return _json(result)


async def ack(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/{id}/ack ``{"by": "李娜", "via": "web"}``: accept; escalation pauses."""

    def apply(session: Any, alert_id: int, data: dict[str, Any], now: datetime) -> Any:
        by, via = _by(data), _text(data, "via", required=False, default="web") or "web"
        return lifecycle.acknowledge(session, alert_id, by=by, via=via, at=now)

    return await _transition(request, apply, "ack")


async def resolve(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/{id}/resolve ``{"by", "outcome", "notes"}``: record the outcome and close.

    ``outcome`` is elder_ok | visit_ok | real_danger | device_fault (or its Chinese label); other text is
    kept as said and counted as 其他.
    """
    alerts = request.app.get(ALERTS)
    tighten = alerts.service.config.tighten if alerts is not None else None

    def apply(session: Any, alert_id: int, data: dict[str, Any], now: datetime) -> Any:
        return lifecycle.resolve(
            session,
            alert_id,
            by=_by(data),
            outcome=_text(data, "outcome"),
            notes=_text(data, "notes", required=False),
            at=now,
            tighten=tighten,
        )

    return await _transition(request, apply, "resolve")


async def cancel(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/{id}/cancel ``{"by", "reason"}``: a false alarm; escalation stops."""

    def apply(session: Any, alert_id: int, data: dict[str, Any], now: datetime) -> Any:
        return lifecycle.cancel(
            session, alert_id, by=_by(data), reason=_text(data, "reason", required=False), at=now
        )

    return await _transition(request, apply, "cancel")


async def timeline(request: web.Request) -> web.Response:
    """GET /api/v1/alerts/{id}/timeline: the alert, its events and its notifications.

    Maintenance gets no notification texts or phone numbers (those name and reach people). Everyone else
    sees phone numbers masked by the elder page's rule (138****5678), in addresses and in free text alike:
    the full numbers are only for staff, through the audited ``POST /api/v1/elders/{code}/reveal``.
    """
    svc = request.app[SERVICES]
    who = require(request, "alerts.read")
    alert_id = _alert_id(request)

    def read() -> dict[str, Any]:
        with svc.sessions() as session:
            scope = scope_of(session, who)
            found = scoped_alerts(session, scope, alert_id=alert_id, limit=1)
            if not found:
                if session.get(Alert, alert_id) is not None:
                    raise forbidden(f"告警 {alert_id} 不在您的管辖范围内")
                raise error(web.HTTPNotFound, f"告警 {alert_id} 不存在")
            events = session.scalars(
                select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
            ).all()
            outbox = session.scalars(
                select(OutboxMessage).where(OutboxMessage.alert_id == alert_id).order_by(OutboxMessage.id)
            ).all()
            return {
                "alert": found[0],
                "events": [
                    {"at": e.at.isoformat(), "event": e.event, "detail": mask_phones(e.detail)}
                    for e in events
                ],
                "notifications": [
                    {
                        "id": m.id,
                        "purpose": m.purpose,
                        "name": m.name,
                        "address": mask_phones(m.address),
                        "route": m.route,
                        "status": m.status,
                        "via": m.sent_via,
                        "provider_status": m.provider_status,
                        "text": mask_phones(m.text),
                        "error": mask_phones(m.last_error),
                    }
                    for m in outbox
                    if not scope.device_only
                ],
            }

    return _json(await asyncio.to_thread(read))


async def coverage(request: web.Request) -> web.Response:
    """GET /api/v1/alerts/coverage: holes in the safety net (no duty line, homes nobody can be told about).

    Checked live against the register, within the caller's jurisdiction; the board shows them in red.
    """
    svc = request.app[SERVICES]
    who = require(request, "alerts.read")
    alerts = request.app.get(ALERTS)
    config = alerts.service.config if alerts is not None else AlertsConfig()
    channel_gaps = alerts.service.channel_gaps if alerts is not None else []

    def read() -> dict[str, Any]:
        with svc.sessions() as session:
            gaps = [*coverage_gaps(session, config, scope_of(session, who).home_ids), *channel_gaps]
        return {"errors": sum(g.level == "error" for g in gaps), "gaps": [g.as_dict() for g in gaps]}

    return _json(await asyncio.to_thread(read))


# -- Twilio webhooks ----------------------------------------------------------------------------------


async def _twilio_form(request: web.Request) -> tuple[AlertsWeb, dict[str, str]]:
    """The form of a genuine Twilio request, or 403/503."""
    alerts = request.app.get(ALERTS)
    if alerts is None or not alerts.service.config.twilio.auth_token:
        raise web.HTTPNotFound(text="Twilio 未配置：此回调地址未启用")
    form = {k: str(v) for k, v in (await request.post()).items()}
    public = alerts.service.config.public_url.rstrip("/")
    url = f"{public}{request.path_qs}" if public else str(request.url)
    validator = RequestValidator(alerts.service.config.twilio.auth_token)
    if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
        raise web.HTTPForbidden(text="X-Twilio-Signature 校验失败")
    return alerts, form


async def twilio_sms(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/twilio/sms: an inbound SMS ("1" / "1 A37"); the answer goes back as TwiML."""
    alerts, form = await _twilio_form(request)
    outcome = await alerts.service.reply(form.get("From", ""), form.get("Body", ""), via="短信")
    return _twiml(f"<Message>{escape(outcome.answer)}</Message>")


async def twilio_voice(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/twilio/voice?outbox=N: the Gather action; Digits "1" accepts that alert.

    On the elder's wellbeing call "1" means "I am fine" (the alert resolves) and any other key pages at once
    (`AlertService.keypress`, shared with the GSM modem's calls).
    """
    alerts, form = await _twilio_form(request)
    answer = await alerts.service.keypress(_outbox_id(request), form.get("Digits", ""), via="语音按键")
    return _twiml(f'<Say language="zh-CN">{escape(answer)}</Say>')


async def twilio_status(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/twilio/status?outbox=N: delivery status; failed/undelivered falls back."""
    alerts, form = await _twilio_form(request)
    status = form.get("MessageStatus") or form.get("CallStatus") or ""
    reason = f"Twilio 回执 {status} {form.get('ErrorCode', '')}".strip()
    await alerts.service.call_status(_outbox_id(request), status, reason=reason)
    return web.Response(status=204)


def _outbox_id(request: web.Request) -> int:
    try:
        value = int(request.query["outbox"])
    except (KeyError, ValueError) as exc:
        raise web.HTTPBadRequest(text="缺少 outbox 参数") from exc
    if not 0 < value < 2**31:
        raise web.HTTPBadRequest(text="outbox 参数超出范围")
    return value


async def adjustments(request: web.Request) -> web.Response:
    """GET /api/v1/rules/adjustments[?home=H001]: per-home rule adjustments within the caller's jurisdiction."""
    svc = request.app[SERVICES]
    who = require(request, "alerts.read")
    home = request.query.get("home", "")

    def read() -> list[dict[str, Any]]:
        with svc.sessions() as session:
            rows = list_adjustments(session, scope_of(session, who).home_ids)
        return [r for r in rows if not home or r["home"] == home]

    return _json(await asyncio.to_thread(read))


async def revert_adjustment(request: web.Request) -> web.Response:
    """POST /api/v1/rules/adjustments/{adjustment_id}/revert ``{"by"}``: undo one adjustment (audited)."""
    svc = request.app[SERVICES]
    who = require(request, "alerts.act")
    try:
        adjustment_id = int(request.match_info["adjustment_id"])
    except ValueError as exc:
        raise error(web.HTTPNotFound, "调整编号必须是数字") from exc
    if not 0 < adjustment_id < 2**31:
        raise error(web.HTTPNotFound, f"调整记录 {adjustment_id} 不存在")
    data = await _body(request)
    data.setdefault("by", who.name)
    by, now, ip = _by(data), svc.clock.now(), client_ip(request)

    def run() -> dict[str, Any]:
        with svc.sessions.begin() as session:
            row = session.get(RuleAdjustment, adjustment_id)
            if row is not None and not scope_of(session, who).alert_ok(row.home_id, "elder"):
                raise forbidden(f"调整记录 {adjustment_id} 不在您的管辖范围内")
            revert(session, adjustment_id, by=by, at=now)
            audit.record(
                session,
                at=now,
                actor=who.name,
                role=who.role,
                action="revert_adjustment",
                target=f"adjustment {adjustment_id}",
                ip=ip,
            )
            return next(r for r in list_adjustments(session) if r["id"] == adjustment_id)

    try:
        return _json(await asyncio.to_thread(run))
    except AlertError as exc:
        return _json({"error": str(exc)}, 404 if "不存在" in str(exc) else 409)


def add_routes(app: web.Application) -> None:
    """Add the alert routes to the hub's application."""
    app.router.add_post("/api/v1/alerts/{alert_id}/ack", ack)
    app.router.add_post("/api/v1/alerts/{alert_id}/resolve", resolve)
    app.router.add_post("/api/v1/alerts/{alert_id}/cancel", cancel)
    app.router.add_get("/api/v1/alerts/{alert_id}/timeline", timeline)
    app.router.add_get("/api/v1/alerts/coverage", coverage)
    app.router.add_post("/api/v1/alerts/twilio/sms", twilio_sms)
    app.router.add_post("/api/v1/alerts/twilio/voice", twilio_voice)
    app.router.add_post("/api/v1/alerts/twilio/status", twilio_status)
    app.router.add_get("/api/v1/rules/adjustments", adjustments)
    app.router.add_post("/api/v1/rules/adjustments/{adjustment_id}/revert", revert_adjustment)
