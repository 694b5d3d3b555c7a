"""Local Aliyun and Tencent Cloud endpoints that check the request signature as the real services do.

Aliyun's OpenAPI (dysmsapi/dyvmsapi 2017-05-25, RPC style) is signed ACS3-HMAC-SHA256; Tencent Cloud's API 3.0
(sms 2021-01-11, vms 2020-09-02) is signed TC3-HMAC-SHA256. Each fake recomputes the signature from the
request with the shared secret, from the published algorithm, and answers a mismatch with the service's
own error (Aliyun HTTP 400 `SignatureDoesNotMatch`, Tencent `AuthFailure.SignatureFailure`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from hub.alerts.templates import MESSAGE_KINDS, VOICE_KINDS

ALIYUN_KEY_ID = "LTAI5tTestKeyId0001"
ALIYUN_SECRET = "aliyun-test-secret"
TENCENT_SECRET_ID = "AKIDtestsecretid0001"
TENCENT_SECRET_KEY = "tencent-test-secret-key"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


async def _start(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


@dataclass
class FakeAliyun:
    """Aliyun SendSms and IvrCall (one server for both endpoints), checking ACS3-HMAC-SHA256."""

    secret: str = ALIYUN_SECRET
    received: list[dict[str, str]] = field(default_factory=list)  # the actions' parameters
    fail_code: str = ""  # the business Code every send answers (e.g. isv.BUSINESS_LIMIT_CONTROL)
    fail_action: str = ""  # only this action fails with `fail_code` ("" = every action)
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def actions(self, action: str) -> list[dict[str, str]]:
        return [r for r in self.received if r["Action"] == action]

    def _signature_ok(self, request: web.Request, body: bytes) -> str:
        """ "" when the request is signed with the shared secret, else why not."""
        auth = request.headers.get("Authorization", "")
        algorithm, _, rest = auth.partition(" ")
        if algorithm != "ACS3-HMAC-SHA256":
            return f"unsupported signature algorithm {algorithm!r}"
        parts = dict(p.split("=", 1) for p in rest.split(","))
        if parts.get("Credential") != ALIYUN_KEY_ID:
            return "InvalidAccessKeyId.NotFound"
        signed = parts["SignedHeaders"].split(";")
        for must in ("host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-content-sha256"):
            if must not in signed:
                return f"header {must} is not signed"
        payload = _sha256(body)
        if request.headers.get("x-acs-content-sha256") != payload:
            return "x-acs-content-sha256 does not match the body"
        query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(request.query.items())
        )
        headers = "".join(f"{h}:{request.headers.get(h, '').strip()}\n" for h in signed)
        canonical = f"{request.method}\n{request.path}\n{query}\n{headers}\n{';'.join(signed)}\n{payload}"
        to_sign = f"ACS3-HMAC-SHA256\n{_sha256(canonical.encode())}"
        expected = hmac.new(self.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        return "" if hmac.compare_digest(expected, parts.get("Signature", "")) else "SignatureDoesNotMatch"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        problem = self._signature_ok(request, body)
        if problem:
            error = {"Code": problem.split(" ")[0], "Message": problem, "RequestId": "R-denied"}
            return web.json_response(error, status=400 if problem != "InvalidAccessKeyId.NotFound" else 404)
        action = request.headers["x-acs-action"]
        params = {"Action": action, **request.query}
        self.received.append(params)
        n = next(self._ids)
        if self.fail_code and self.fail_action in ("", action):
            return web.json_response(
                {"Code": self.fail_code, "Message": "fake failure", "RequestId": f"R{n}"}
            )
        reply: dict[str, Any] = {"Code": "OK", "Message": "OK", "RequestId": f"R{n}"}
        if action == "SendSms":
            reply["BizId"] = f"90000{n}^0"
        else:
            reply["CallId"] = f"11601{n}^10281"
        return web.json_response(reply)

    async def __aenter__(self) -> FakeAliyun:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner, self.port = await _start(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class FakeTencent:
    """Tencent Cloud SendSms (sms) and SendTtsVoice (vms), checking TC3-HMAC-SHA256."""

    secret_key: str = TENCENT_SECRET_KEY
    received: list[dict[str, Any]] = field(default_factory=list)  # {"Action": …, **the JSON body}
    error_code: str = ""  # a whole-request error (Response.Error.Code)
    status_code: str = ""  # a per-number send status other than "Ok" (SMS)
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["Action"] == action]

    def _signature_ok(self, request: web.Request, body: bytes) -> str:
        auth = request.headers.get("Authorization", "")
        algorithm, _, rest = auth.partition(" ")
        if algorithm != "TC3-HMAC-SHA256":
            return "AuthFailure.SignatureFailure"
        parts = dict(p.strip().split("=", 1) for p in rest.split(","))
        secret_id, date, service, terminator = parts.get("Credential", "////").split("/")
        if secret_id != TENCENT_SECRET_ID:
            return "AuthFailure.SecretIdNotFound"
        timestamp = request.headers.get("X-TC-Timestamp", "0")
        if datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") != date:
            return "AuthFailure.SignatureFailure"
        signed = parts["SignedHeaders"].split(";")
        headers = "".join(f"{h}:{request.headers.get(h, '').strip()}\n" for h in signed)
        canonical = (
            f"{request.method}\n{request.path}\n{request.query_string}\n{headers}\n{';'.join(signed)}\n"
        )
        canonical += _sha256(body)
        scope = f"{date}/{service}/{terminator}"
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256(canonical.encode())}"
        key = _hmac(_hmac(_hmac(f"TC3{self.secret_key}".encode(), date), service), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts.get("Signature", "")):
            return "AuthFailure.SignatureFailure"
        return ""

    @staticmethod
    def _reply(response: dict[str, Any]) -> web.Response:
        # Exactly "application/json": the SDK looks for errors only in a reply of that type.
        return web.Response(body=json.dumps(response).encode(), headers={"Content-Type": "application/json"})

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        n = next(self._ids)
        problem = self._signature_ok(request, body)
        if problem or self.error_code:
            error = {"Code": problem or self.error_code, "Message": "fake failure"}
            return self._reply({"Response": {"Error": error, "RequestId": f"R{n}"}})
        action = request.headers["X-TC-Action"]
        params = json.loads(body)
        self.received.append({"Action": action, **params})
        if action == "SendSms":
            code = self.status_code or "Ok"
            status = {
                "SerialNo": f"2433:{n:010d}",
                "PhoneNumber": params["PhoneNumberSet"][0],
                "Fee": 1,
                "SessionContext": params.get("SessionContext", ""),
                "Code": code,
                "Message": "send success" if code == "Ok" else "fake failure",
                "IsoCode": "CN",
            }
            return self._reply({"Response": {"SendStatusSet": [status], "RequestId": f"R{n}"}})
        call = {"CallId": f"call-{n}", "SessionContext": params.get("SessionContext", "")}
        return self._reply({"Response": {"SendStatus": call, "RequestId": f"R{n}"}})

    async def __aenter__(self) -> FakeTencent:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner, self.port = await _start(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _templates(prefix: str, kinds: tuple[str, ...], named: bool) -> dict[str, Any]:
    """A template for each kind: who, what, where, why and the reply code."""
    values = ["elder", "kind", "address", "detail", "code"]
    if named:
        return {k: {"code": f"{prefix}_{k}", "params": {v[:4]: v for v in values}} for k in kinds}
    return {k: {"id": f"{prefix}{i}", "params": values} for i, k in enumerate(kinds, 1000)}


def aliyun_section(fake: FakeAliyun) -> dict[str, Any]:
    """An `[alerts.aliyun]` section for `fake`: SMS and voice, every message kind templated."""
    return {
        "access_key_id": ALIYUN_KEY_ID,
        "sign_name": "居家监护",
        "sms_endpoint": fake.endpoint,
        "voice_endpoint": fake.endpoint,
        "protocol": "http",
        "sms_templates": _templates("SMS", tuple(MESSAGE_KINDS), named=True),
        "called_show_number": "02388880000",
        "voice_templates": _templates("TTS", VOICE_KINDS, named=True),
        "key_reply_code": "TTS_KEY_THANKS",
    }


def tencent_section(fake: FakeTencent) -> dict[str, Any]:
    """An `[alerts.tencent]` section for `fake`: SMS and voice, every message kind templated."""
    return {
        "secret_id": TENCENT_SECRET_ID,
        "sms_endpoint": fake.endpoint,
        "voice_endpoint": fake.endpoint,
        "protocol": "http",
        "sms_sdk_app_id": "1400000001",
        "sign_name": "居家监护",
        "sms_templates": _templates("", tuple(MESSAGE_KINDS), named=False),
        "voice_sdk_app_id": "1400000002",
        "voice_templates": _templates("", VOICE_KINDS, named=False),
    }
