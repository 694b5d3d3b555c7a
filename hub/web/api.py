"""The aiohttp application (`build_app`) and the handlers of /healthz, /metrics and the core of /api/v1.

`build_app` assembles every route: these handlers (health, metrics, alerts, homes, quarantine, device
ingest, the page) and the routes of the handler modules (`sse`, `alerts_api`, `care_api`, `resources`,
`openapi`). Those modules never import this one: they find the hub's parts on the application under
`hub.web.services.SERVICES`, and share their helpers through `hub.web.access`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import metrics
from hub.cluster import ClusterRole
from hub.deploy.partitions import describe
from hub.devices.model import Binding
from hub.ingest.quarantine import DEFAULT_PAGE, MAX_PAGE, list_quarantine
from hub.models import RawMessage
from hub.register.lease import live_instances, partition_rows
from hub.register.models import Home
from hub.register.tokens import device_for_token
from hub.sources.delivery import Delivery
from hub.web import auth, overview, provider_hooks, resources, sse, users_api
from hub.web.access import in_session, json_response, query_int, require
from hub.web.alert_views import scoped_alerts
from hub.web.alerts_api import add_routes as add_alert_routes
from hub.web.care_api import add_routes as add_care_routes
from hub.web.openapi import add_routes as add_openapi_routes
from hub.web.services import SERVICES, Services
from hub.web.settings import WebConfig

STATIC = Path(__file__).parent / "static"
MAX_INGEST_BYTES = 256 * 1024


async def healthz(request: web.Request) -> web.Response:
    """Readiness: 200 only when every health check passes (hub/health.py); 503 with each failing check's
    reason (Chinese and English) otherwise. "failed" once the pipeline has stopped, else "unhealthy"."""
    svc = request.app[SERVICES]
    failed = svc.pipeline.failed
    results = [] if svc.health is None else await svc.health.evaluate()
    failing = [r.as_dict() for r in results if not r.ok]
    status = "failed" if failed is not None else "unhealthy" if failing else "ok"
    body = {
        "status": status,
        "mqtt_connected": svc.mqtt_connected(),
        "pending": svc.pipeline.pending,
        "store_pending": svc.store.pending(),
        "error": None if failed is None else str(failed),
        "failing": failing,
        "checks": [r.as_dict() for r in results],
    }
    if svc.cluster is not None:
        body["role"] = svc.cluster.role
        body["cluster"] = svc.cluster.as_dict()
    return json_response(body, 200 if status == "ok" else 503)


def _metrics_refused(request: web.Request, token: str) -> web.Response | None:
    """401 when a metrics token is set and the request does not carry it."""
    if token and request.headers.get("Authorization", "") != f"Bearer {token}":
        return json_response({"error": "需要监控令牌"}, 401)
    return None


async def metrics_text(request: web.Request) -> web.Response:
    """Prometheus text format (behind ``web.metrics_token`` when one is set); the health gauges are
    evaluated at each scrape, so they are as fresh as /healthz."""
    svc = request.app[SERVICES]
    refused = _metrics_refused(request, svc.web.metrics_token)
    if refused is not None:
        return refused
    if svc.health is not None:
        await svc.health.evaluate()
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


STANDBY_ROLE = web.AppKey("standby_role", ClusterRole)
STANDBY_METRICS_TOKEN = web.AppKey("standby_metrics_token", str)


async def standby_healthz(request: web.Request) -> web.Response:
    """A standby's /healthz: 200 "standby" while it can reach the register (so it can take over), 503 with
    the reason when it cannot."""
    role = request.app[STANDBY_ROLE]
    failing = []
    if role.last_error:
        failing.append(
            {
                "check": "register",
                "ok": False,
                "reason_zh": f"备用实例无法访问登记库，不能接管: {role.last_error}",
                "reason_en": f"the standby cannot reach the register, so it cannot take over: {role.last_error}",
            }
        )
    body = {
        "status": "unhealthy" if failing else "standby",
        "role": role.role,
        "cluster": role.as_dict(),
        "mqtt_connected": False,
        "pending": 0,
        "store_pending": 0,
        "error": None,
        "failing": failing,
        "checks": failing,
    }
    return json_response(body, 503 if failing else 200)


async def standby_metrics(request: web.Request) -> web.Response:
    """A standby's /metrics (the cluster gauges say it is a standby)."""
    refused = _metrics_refused(request, request.app[STANDBY_METRICS_TOKEN])
    if refused is not None:
        return refused
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


async def standby_elsewhere(request: web.Request) -> web.Response:
    """Everything else on a standby: 503, the active instance serves it (devices retry HTTP ingest)."""
    return json_response(
        {
            "error": "这是备用实例，请访问主用实例 (this is a standby instance; use the active one)",
            "role": request.app[STANDBY_ROLE].role,
        },
        503,
    )


def build_standby_app(role: ClusterRole, web_config: WebConfig) -> web.Application:
    """The small application a standby serves until it takes over: /healthz, /metrics, 503 for the rest."""
    app = web.Application()
    app[STANDBY_ROLE] = role
    app[STANDBY_METRICS_TOKEN] = web_config.metrics_token
    app.router.add_get("/healthz", standby_healthz)
    app.router.add_get("/metrics", standby_metrics)
    app.router.add_route("*", "/{tail:.*}", standby_elsewhere)
    return app


async def alerts(request: web.Request) -> web.Response:
    """GET /api/v1/alerts[?active=1][&limit=N]: alerts in the caller's jurisdiction."""
    require(request, "alerts.read")
    active = request.query.get("active") in ("1", "true")
    limit = query_int(request, "limit", 500)
    return json_response(
        await in_session(
            request, lambda s, scope, _w: scoped_alerts(s, scope, active_only=active, limit=limit)
        )
    )


async def homes(request: web.Request) -> web.Response:
    """GET /api/v1/homes: homes in the caller's jurisdiction with their elders and latest readings.

    Maintenance sees the address but no elders; readings only of device health (battery, availability).
    """
    require(request, "homes.read")
    svc = request.app[SERVICES]

    def read(session: Session, scope: Any, _who: Any) -> list[dict[str, Any]]:
        stmt = select(Home).order_by(Home.code)
        if scope.home_ids is not None:
            stmt = stmt.where(Home.id.in_(scope.home_ids))
        out = []
        for h in session.scalars(stmt):
            elders = [] if scope.device_only else [e for e in h.elders if scope.elder_ok(e.id)]
            out.append(
                {
                    "code": h.code,
                    "address": h.address,
                    "street": h.street,
                    "community": h.community,
                    "elders": [{"name": e.name, "tier": e.tier} for e in elders],
                    "elder_codes": [e.code for e in elders],
                    "latest": [],
                }
            )
        return out

    device_only = auth.current(request).role == "maintenance"
    result = await in_session(request, read)
    by_home: dict[str, list[dict[str, Any]]] = {h["code"]: h["latest"] for h in result}
    for r in await svc.store.latest():
        if r.home in by_home and (not device_only or str(r.signal) in resources.DEVICE_SIGNALS):
            by_home[r.home].append(
                {
                    "device": r.device,
                    "signal": str(r.signal),
                    "value": r.value,
                    "unit": r.unit,
                    "ts": r.ts.isoformat(),
                }
            )
    return json_response(result)


async def quarantine(request: web.Request) -> web.Response:
    """GET /api/v1/quarantine[?limit=N][&before=ID] (district admin and maintenance), newest first.

    A page of at most `MAX_PAGE` (default `DEFAULT_PAGE`); header ``X-Next-Before`` gives the ``before``
    of the next page while there is one.
    """
    require(request, "quarantine.read")
    svc = request.app[SERVICES]
    limit = min(query_int(request, "limit", DEFAULT_PAGE), MAX_PAGE)
    before = _int_param(request, "before")

    def read() -> list[dict[str, object]]:
        with svc.sessions() as session:
            return list_quarantine(session, limit + 1, before)

    rows = await asyncio.to_thread(read)
    response = json_response(rows[:limit])
    if len(rows) > limit:
        response.headers["X-Next-Before"] = str(rows[limit - 1]["id"])
    return response


async def partitions(request: web.Request) -> web.Response:
    """GET /api/v1/partitions (district staff and maintenance): each partition's owner, fencing epoch,
    lease time left, assignment and number of homes, and the live instances (docs/scaling.md §5)."""
    require(request, "partitions.read")
    svc = request.app[SERVICES]

    def read() -> dict[str, object]:
        with svc.sessions() as session:
            rows = partition_rows(session, svc.partitions)
            clustered = session.get_bind().dialect.name == "postgresql"
            live = live_instances(session) if clustered else []
        return {"count": svc.partitions, "partitions": [describe(r) for r in rows], "instances": live}

    return json_response(await asyncio.to_thread(read))


async def ingest(request: web.Request) -> web.Response:
    """POST /api/v1/ingest — vendor clouds push native-scheme JSON with a per-device bearer token.

    Body: ``{"signal": "heart_rate", "value": 72, "ts": "…"}`` or a list of those. The reply comes only
    after the readings are durable (202); an undecodable body is quarantined and answered with 400.
    """
    svc = request.app[SERVICES]
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return json_response({"error": "缺少设备令牌 (Authorization: Bearer <token>)"}, 401)
    token = auth.removeprefix("Bearer ").strip()

    def lookup() -> Binding | None:
        with svc.sessions() as session:
            return device_for_token(session, token)

    binding = await asyncio.to_thread(lookup)
    if binding is None:
        return json_response({"error": "设备令牌无效"}, 401)
    if binding.ecosystem != "native":
        return json_response({"error": f"设备 {binding.device} 不是 native 设备，不能通过 HTTP 上报"}, 400)
    body = await _read_body(request, MAX_INGEST_BYTES)
    if body is None:
        return json_response({"error": f"请求体超过 {MAX_INGEST_BYTES} 字节"}, 413)
    # The HTTP channel of the native scheme: same decoder, topic names the device.
    topic = f"eldercare/{binding.external_id}/http"
    delivery, outcome = Delivery.awaitable(RawMessage("http", topic, body, svc.clock.now()))
    reasons: list[str] = []
    delivery.on_quarantined = reasons.append
    await svc.pipeline.put(delivery)
    try:
        await outcome
    except Exception as exc:  # the pipeline failed: nothing was stored, the caller must retry
        return json_response({"error": f"暂时无法保存，请重试: {exc}"}, 503)
    if reasons:
        return json_response({"error": f"无法解析，已隔离保存: {reasons[0]}"}, 400)
    return json_response({"status": "accepted"}, 202)


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None when it is longer than `limit` bytes.

    One ``content.read(n)`` returns what has arrived so far (often 64 KiB), not n bytes: a slow or chunked
    body was cut and quarantined as broken JSON. So read until the end, and stop as soon as the limit is
    passed; aiohttp discards the unread rest before it closes (lingering close), so the client gets its 413.
    """
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _int_param(request: web.Request, key: str) -> int | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{key} 必须是整数") from exc
    if not 0 < value < 2**31:  # a row id (32-bit on PostgreSQL); beyond it a database error, not a page
        raise web.HTTPBadRequest(text=f"{key} 必须是 1 到 {2**31 - 1} 之间的整数")
    return value


async def index(request: web.Request) -> web.FileResponse:
    """The dashboard page (a static shell; every datum comes from the API after login)."""
    return web.FileResponse(STATIC / "index.html")


def build_app(services: Services) -> web.Application:
    """The aiohttp application with every route, behind authentication and jurisdiction."""
    app = web.Application(client_max_size=MAX_INGEST_BYTES * 2)
    app[SERVICES] = services
    auth.install(app, services.sessions, services.clock, services.web, services.host)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_text)
    app.router.add_get("/api/v1/alerts", alerts)
    app.router.add_get("/api/v1/homes", homes)
    app.router.add_get("/api/v1/quarantine", quarantine)
    app.router.add_get("/api/v1/partitions", partitions)
    app.router.add_post("/api/v1/ingest", ingest)
    app.router.add_get("/", index)
    sse.add_routes(app)  # before the alert routes: /alerts/stream must not match /alerts/{alert_id}
    add_alert_routes(app)
    provider_hooks.add_routes(app)
    add_care_routes(app)
    resources.add_routes(app)
    overview.add_routes(app)
    users_api.add_routes(app)
    add_openapi_routes(app)
    if STATIC.exists():
        app.router.add_static("/static/", STATIC)
    return app
