"""HTTP handlers of /api/v1, /healthz and /metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from hub import metrics
from hub.alerts.store import list_alerts
from hub.clock import Clock
from hub.devices.model import Binding
from hub.ingest.pipeline import Pipeline
from hub.ingest.quarantine import list_quarantine
from hub.models import RawMessage
from hub.register.models import Home
from hub.register.tokens import device_for_token
from hub.sources.delivery import Delivery
from hub.store.base import TimeSeriesStore

STATIC = Path(__file__).parent / "static"
MAX_INGEST_BYTES = 256 * 1024


@dataclass
class Services:
    """What the HTTP layer may call."""

    sessions: sessionmaker[Session]
    store: TimeSeriesStore
    pipeline: Pipeline
    clock: Clock
    mqtt_connected: Callable[[], bool]


SERVICES = web.AppKey("services", Services)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: 200 when the pipeline runs, 503 once it has failed."""
    svc = request.app[SERVICES]
    failed = svc.pipeline.failed
    body = {
        "status": "ok" if failed is None else "failed",
        "mqtt_connected": svc.mqtt_connected(),
        "pending": svc.pipeline.pending,
        "store_pending": svc.store.pending(),
        "error": None if failed is None else str(failed),
    }
    return _json(body, 200 if failed is None else 503)


async def metrics_text(request: web.Request) -> web.Response:
    """Prometheus text format."""
    return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")


async def alerts(request: web.Request) -> web.Response:
    """GET /api/v1/alerts[?active=1][&limit=N]."""
    svc = request.app[SERVICES]
    active = request.query.get("active") in ("1", "true")
    limit = _limit(request, 500)

    def read() -> list[dict[str, object]]:
        with svc.sessions() as session:
            return list_alerts(session, active_only=active, limit=limit)

    return _json(await asyncio.to_thread(read))


async def homes(request: web.Request) -> web.Response:
    """GET /api/v1/homes: homes with their elders and latest readings."""
    svc = request.app[SERVICES]

    def read() -> list[dict[str, Any]]:
        with svc.sessions() as session:
            rows = session.scalars(select(Home).options(selectinload(Home.elders)).order_by(Home.code)).all()
            return [
                {
                    "code": h.code,
                    "address": h.address,
                    "street": h.street,
                    "community": h.community,
                    "elders": [{"name": e.name, "tier": e.tier} for e in h.elders],
                    "latest": [],
                }
                for h in rows
            ]

    result = await asyncio.to_thread(read)
    by_home: dict[str, list[dict[str, Any]]] = {h["code"]: h["latest"] for h in result}
    for r in await svc.store.latest():
        if r.home in by_home:
            by_home[r.home].append(
                {
                    "device": r.device,
                    "signal": str(r.signal),
                    "value": r.value,
                    "unit": r.unit,
                    "ts": r.ts.isoformat(),
                }
            )
    return _json(result)


async def quarantine(request: web.Request) -> web.Response:
    """GET /api/v1/quarantine[?limit=N]."""
    svc = request.app[SERVICES]
    limit = _limit(request, 100)

    def read() -> list[dict[str, object]]:
        with svc.sessions() as session:
            return list_quarantine(session, limit)

    return _json(await asyncio.to_thread(read))


async def ingest(request: web.Request) -> web.Response:
    """POST /api/v1/ingest — vendor clouds push native-scheme JSON with a per-device bearer token.

    Body: ``{"signal": "heart_rate", "value": 72, "ts": "…"}`` or a list of those. The reply comes only
    after the readings are durable (202); an undecodable body is quarantined and answered with 400.
    """
    svc = request.app[SERVICES]
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return _json({"error": "缺少设备令牌 (Authorization: Bearer <token>)"}, 401)
    token = auth.removeprefix("Bearer ").strip()

    def lookup() -> Binding | None:
        with svc.sessions() as session:
            return device_for_token(session, token)

    binding = await asyncio.to_thread(lookup)
    if binding is None:
        return _json({"error": "设备令牌无效"}, 401)
    if binding.ecosystem != "native":
        return _json({"error": f"设备 {binding.device} 不是 native 设备，不能通过 HTTP 上报"}, 400)
    body = await request.content.read(MAX_INGEST_BYTES + 1)
    if len(body) > MAX_INGEST_BYTES:
        return _json({"error": f"请求体超过 {MAX_INGEST_BYTES} 字节"}, 413)
    # The HTTP channel of the native scheme: same decoder, topic names the device.
    topic = f"eldercare/{binding.external_id}/http"
    delivery, outcome = Delivery.awaitable(RawMessage("http", topic, body, svc.clock.now()))
    reasons: list[str] = []
    delivery.on_quarantined = reasons.append
    await svc.pipeline.put(delivery)
    try:
        await outcome
    except Exception as exc:  # the pipeline failed: nothing was stored, the caller must retry
        return _json({"error": f"暂时无法保存，请重试: {exc}"}, 503)
    if reasons:
        return _json({"error": f"无法解析，已隔离保存: {reasons[0]}"}, 400)
    return _json({"status": "accepted"}, 202)


def _limit(request: web.Request, default: int) -> int:
    try:
        return max(1, min(int(request.query.get("limit", default)), 5000))
    except ValueError as exc:
        raise web.HTTPBadRequest(text="limit 必须是整数") from exc


async def index(request: web.Request) -> web.FileResponse:
    """The demo page."""
    return web.FileResponse(STATIC / "index.html")


def build_app(services: Services) -> web.Application:
    """The aiohttp application with every route."""
    app = web.Application(client_max_size=MAX_INGEST_BYTES * 2)
    app[SERVICES] = services
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_text)
    app.router.add_get("/api/v1/alerts", alerts)
    app.router.add_get("/api/v1/homes", homes)
    app.router.add_get("/api/v1/quarantine", quarantine)
    app.router.add_post("/api/v1/ingest", ingest)
    app.router.add_get("/", index)
    if STATIC.exists():
        app.router.add_static("/static/", STATIC)
    return app
