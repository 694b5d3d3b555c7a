"""``GET /api/v1/alerts/stream``: the live alert board as server-sent events.

One `AlertFeed` per application watches a cheap fingerprint of the alert tables (newest alert id and
newest timeline entry id) and wakes every open stream when it changes — whatever changed it: the pipeline,
an SMS reply, a web acknowledgement, another hub process on the same database. Each stream then sends its
own user's scoped list (event ``alerts``), so no one receives an alert outside their jurisdiction; and
before each event it checks that the user is still signed in, so a logout ends the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from hub.register.models import Alert, AlertEvent
from hub.web.access import in_session, require
from hub.web.alert_views import scoped_alerts
from hub.web.auth import still_signed_in
from hub.web.services import SERVICES

POLL_S = 0.5
KEEPALIVE_S = 15.0
BOARD_LIMIT = 200


class AlertFeed:
    """A version number that grows whenever the alert tables change, and a way to wait for that."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Condition()
        self._fingerprint: tuple[Any, ...] | None = None
        self.closing = False  # set at shutdown: every stream ends so the server can stop at once

    async def close(self) -> None:
        """End every stream (the application is shutting down)."""
        self.closing = True
        await self.bump()

    async def wait_newer(self, seen: int, within: float) -> int:
        """Wait until the version exceeds `seen` (or `within` seconds pass); return the current version."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.version > seen or self.closing), within
                )
            return self.version

    async def bump(self) -> None:
        """Something changed: wake every stream."""
        async with self._changed:
            self.version += 1
            self._changed.notify_all()

    async def watch(self, app: web.Application) -> None:
        """Poll the fingerprint until cancelled."""
        sessions = app[SERVICES].sessions

        def fingerprint() -> tuple[Any, ...]:
            with sessions() as session:
                return (
                    session.scalar(select(func.max(Alert.id))),
                    session.scalar(select(func.max(AlertEvent.id))),
                )

        while True:
            current = await asyncio.to_thread(fingerprint)
            if current != self._fingerprint:
                self._fingerprint = current
                await self.bump()
            await asyncio.sleep(POLL_S)


FEED = web.AppKey("alert_feed", AlertFeed)


async def _feed_ctx(app: web.Application) -> AsyncIterator[None]:
    feed = app[FEED]
    task = asyncio.create_task(feed.watch(app), name="alert-feed")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_streams(app: web.Application) -> None:
    await app[FEED].close()


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/alerts/stream: ``event: alerts`` with the caller's alert list at once and on each change."""
    require(request, "alerts.read")
    feed = request.app[FEED]
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await resp.prepare(request)
    seen = -1
    try:
        while not feed.closing:
            if not await still_signed_in(request):
                break  # signed out, expired or disabled meanwhile: not one more event
            version = feed.version
            if version != seen:
                seen = version
                rows = await in_session(
                    request, lambda s, scope, _w: scoped_alerts(s, scope, limit=BOARD_LIMIT)
                )
                data = json.dumps(rows, ensure_ascii=False)
                await resp.write(f"event: alerts\nid: {version}\ndata: {data}\n\n".encode())
            elif await feed.wait_newer(seen, KEEPALIVE_S) == seen:
                await resp.write(b": keepalive\n\n")
    except ConnectionResetError:
        pass  # the browser went away: nothing to clean up beyond the response
    return resp


def add_routes(app: web.Application) -> None:
    """Add the stream route and the feed that drives it."""
    app[FEED] = AlertFeed()
    app.cleanup_ctx.append(_feed_ctx)
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/api/v1/alerts/stream", stream)
