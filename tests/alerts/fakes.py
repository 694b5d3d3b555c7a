"""Local servers that speak the wire formats of Twilio and the chat robots, for the channel tests."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC00000000000000000000000000000001"
AUTH_TOKEN = "test-auth-token"
FROM_NUMBER = "+8610690000"


@dataclass
class Received:
    """One request the fake server took."""

    path: str
    form: dict[str, str]
    at: float  # time.perf_counter() on arrival (the latency bench reads it)


@dataclass
class FakeTwilio:
    """Twilio's REST API for Messages.json and Calls.json, with HTTP basic auth checked."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    fail_with: tuple[int, int] | None = None  # (HTTP status, Twilio error code) for every request
    hang_s: float = 0.0  # answer every request only after this long (a provider that times out)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _sids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sms(self) -> list[dict[str, str]]:
        return [r.form for r in self.received if r.path.endswith("/Messages.json")]

    def calls(self) -> list[dict[str, str]]:
        return [r.form for r in self.received if r.path.endswith("/Calls.json")]

    async def _handle(self, request: web.Request) -> web.Response:
        arrived = time.perf_counter()
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        if request.match_info["sid"] != ACCOUNT_SID:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.received.append(Received(request.path, form, arrived))
        self.arrived.set()
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        if self.fail_with is not None:
            status, code = self.fail_with
            return web.json_response(
                {"code": code, "message": "fake failure", "status": status}, status=status
            )
        n = next(self._sids)
        if request.path.endswith("/Calls.json"):
            sid = f"CA{n:032d}"
            return web.json_response({"sid": sid, "status": "queued", "to": form.get("To")}, status=201)
        sid = f"SM{n:032d}"
        body = {
            "sid": sid,
            "status": "queued",
            "to": form.get("To"),
            "body": form.get("Body"),
            "error_code": None,
            "error_message": None,
        }
        return web.json_response(body, status=201)

    async def __aenter__(self) -> FakeTwilio:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._handle)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def twilio_signature(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """What Twilio would put in X-Twilio-Signature (computed by the library's own validator)."""
    return RequestValidator(token).compute_signature(url, form)


@dataclass
class FakeRobot:
    """WeCom, DingTalk and generic-webhook endpoints, each checking what the real service checks."""

    dingtalk_secret: str = "SECdingtalk"
    webhook_secret: str = "webhook-secret"
    wecom_key: str = "wecom-key"
    dingtalk_token: str = "ding-token"
    port: int = 0
    received: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    errcode: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _wecom(self, request: web.Request) -> web.Response:
        if request.query.get("key") != self.wecom_key:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        body = await request.json()
        self.received.append(("wecom", body, dict(request.query)))
        return web.json_response({"errcode": self.errcode, "errmsg": "ok" if not self.errcode else "busy"})

    async def _dingtalk(self, request: web.Request) -> web.Response:
        q = request.query
        ts = q.get("timestamp", "")
        raw_sign = request.rel_url.raw_query_string.split("sign=")[-1].split("&")[0]
        digest = hmac.new(
            self.dingtalk_secret.encode(), f"{ts}\n{self.dingtalk_secret}".encode(), hashlib.sha256
        )
        expected = base64.b64encode(digest.digest()).decode()
        fresh = ts.isdigit() and abs(int(ts) - time.time() * 1000) < 3600_000
        if q.get("access_token") != self.dingtalk_token or unquote_plus(raw_sign) != expected or not fresh:
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        body = await request.json()
        self.received.append(("dingtalk", body, dict(q)))
        return web.json_response({"errcode": self.errcode, "errmsg": "ok"})

    async def _webhook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(self.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Hub-Signature-256", ""), expected):
            return web.Response(status=401, text="bad signature")
        self.received.append(("webhook", json.loads(raw), dict(request.headers)))
        return web.Response(status=204)

    async def __aenter__(self) -> FakeRobot:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self._wecom)
        app.router.add_post("/robot/send", self._dingtalk)
        app.router.add_post("/hook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
