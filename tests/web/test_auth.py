"""Login, cookies, CSRF, throttling, tokens, the audit log's retention, and the OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from aiohttp import ClientResponse
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from hub.register.models import AlertEvent
from hub.web import audit, auth
from hub.web.auth import add_user
from hub.web.openapi import document
from hub.web.settings import WebConfig
from hub.web.tables import AuditEntry, WebUser
from tests.web.conftest import NOW, PASSWORD, Api, make_api


async def _login(api: Api, name: str, password: str) -> int:
    async with api.client.post("/api/v1/auth/login", json={"name": name, "password": password}) as resp:
        return resp.status


async def test_private_routes_need_a_login_and_public_ones_do_not(api: Api) -> None:
    for path in ("/api/v1/alerts", "/api/v1/elders", "/api/v1/alerts/stream", "/api/v1/auth/me"):
        async with api.client.get(path) as resp:
            assert resp.status == 401, path
    async with api.client.get("/api/v1/alerts", headers={"Authorization": "Bearer forged"}) as resp:
        assert resp.status == 401
    for path in ("/", "/api/v1/openapi.json", "/metrics", "/static/app.js"):
        async with api.client.get(path) as resp:
            assert resp.status == 200, path


async def test_cookie_login_sets_strict_httponly_cookie_and_csrf_guards_writes(api: Api) -> None:
    async with api.client.post("/api/v1/auth/login", json={"name": "李娜", "password": PASSWORD}) as resp:
        assert resp.status == 200
        csrf = (await resp.json())["csrf"]
        cookie = resp.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("hub_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    assert "Secure" not in session_cookie  # bound to 127.0.0.1: the local demo over plain http
    me = await (await api.client.get("/api/v1/auth/me")).json()
    assert me["name"] == "李娜" and me["csrf"] == csrf
    alert = api.alert_ids["H001/sos"]
    async with api.client.post(f"/api/v1/alerts/{alert}/ack", json={}) as resp:
        assert resp.status == 403  # cookie without the CSRF header
    async with api.client.post(f"/api/v1/alerts/{alert}/ack", json={}, headers={"X-CSRF-Token": "x"}) as resp:
        assert resp.status == 403
    async with api.client.post(
        f"/api/v1/alerts/{alert}/ack", json={}, headers={"X-CSRF-Token": csrf}
    ) as resp:
        assert resp.status == 200
    async with api.client.post("/api/v1/auth/logout", json={}, headers={"X-CSRF-Token": csrf}) as resp:
        assert resp.status == 200
    async with api.client.get("/api/v1/alerts") as resp:
        assert resp.status == 401
    log = await (await api.client.get("/api/v1/audit", headers=api.auth("区管理员"))).json()
    assert [e["action"] for e in log if e["actor"] == "李娜"] == [
        "logout",
        "ack",
        "denied",
        "denied",
        "login",
        "token",
    ]


@pytest.fixture
async def public_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The API as bound to a public address (Secure cookies by default)."""
    async for value in make_api(tmp_path, host="0.0.0.0"):
        yield value


async def test_secure_cookie_when_not_bound_locally(public_api: Api) -> None:
    async with public_api.client.post(
        "/api/v1/auth/login", json={"name": "李娜", "password": PASSWORD}
    ) as resp:
        assert resp.status == 200
        assert all("Secure" in c for c in resp.headers.getall("Set-Cookie"))


async def test_login_is_throttled_per_user_and_address_and_failures_are_audited(api: Api) -> None:
    for _ in range(5):
        assert await _login(api, "李娜", "wrong") == 401
    assert await _login(api, "李娜", PASSWORD) == 429  # even the right password, until the window passes
    assert await _login(api, "王家属", PASSWORD) == 200  # another user is not affected
    api.clock.advance(timedelta(minutes=16))
    assert await _login(api, "李娜", PASSWORD) == 200
    with api.sessions() as session:
        outcomes = session.scalars(
            select(AuditEntry.outcome).where(AuditEntry.action == "login", AuditEntry.actor == "李娜")
        ).all()
    assert sorted(outcomes) == ["failed"] * 5 + ["ok"]


async def test_login_refuses_a_form_post(api: Api) -> None:
    async with api.client.post("/api/v1/auth/login", data={"name": "李娜", "password": PASSWORD}) as resp:
        assert resp.status == 415  # a cross-site form cannot log someone in


async def test_metrics_token(tmp_path: Path) -> None:
    async for api in make_api(tmp_path, web=WebConfig(metrics_token="m-secret")):
        assert (await api.client.get("/metrics")).status == 401
        ok = await api.client.get("/metrics", headers={"Authorization": "Bearer m-secret"})
        assert ok.status == 200


def test_audit_purge_keeps_six_months_and_deletes_only_older(api: Api) -> None:
    with api.sessions.begin() as session:
        for days in (10, 200, 500):
            audit.record(session, at=NOW - timedelta(days=days), actor="x", action="login")
    with api.sessions.begin() as session, pytest.raises(audit.AuditError):
        audit.purge(session, now=NOW, retention_days=90)
    with api.sessions.begin() as session:
        assert audit.purge(session, now=NOW, retention_days=400) == 1
    with api.sessions() as session:
        assert (
            session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == "x")) == 2
        )


async def test_openapi_lists_every_route(api: Api) -> None:
    described = {(m.upper(), p) for p, item in document()["paths"].items() for m in item}
    routes = set()
    for r in api.client.app.router.routes():
        info = r.get_info()
        path = info.get("path") or info.get("formatter")
        if r.method in ("GET", "POST", "PUT", "DELETE") and path and not path.startswith("/static"):
            routes.add((r.method, path.replace("{what:ledger|register|visits|bundle}", "{what}")))
    assert routes == described
    served = await (await api.client.get("/api/v1/openapi.json")).json()
    assert served["openapi"].startswith("3.") and served["paths"] == document()["paths"]


@pytest.fixture
async def demo_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The API as `eldercare-hub demo` runs it: local requests without credentials act as the admin."""
    async for value in make_api(tmp_path, web=WebConfig(demo_user="区管理员")):
        yield value


async def test_demo_auto_login_does_not_bypass_the_cross_site_checks(demo_api: Api) -> None:
    alert = demo_api.alert_ids["H001/sos"]
    page = f"http://{demo_api.client.host}:{demo_api.client.port}"
    # What any web page the operator happens to open can send without a CORS preflight.
    forged = {"Content-Type": "text/plain", "Origin": "http://evil-site.example"}
    async with demo_api.client.post(
        f"/api/v1/alerts/{alert}/ack", data='{"by": "evil-site"}', headers=forged
    ) as resp:
        assert resp.status == 403
    simple = {"Content-Type": "text/plain"}  # a browser that sends no Origin: still no custom header
    async with demo_api.client.post(
        f"/api/v1/alerts/{alert}/cancel", data='{"by": "evil-site"}', headers=simple
    ) as resp:
        assert resp.status == 403
    # DNS rebinding: a foreign name resolved to 127.0.0.1 is not the local demo page.
    async with demo_api.client.get("/api/v1/elders", headers={"Host": "evil-site.example"}) as resp:
        assert resp.status == 401
    timeline = await (
        await demo_api.client.get(f"/api/v1/alerts/{alert}/timeline", headers=demo_api.auth("区管理员"))
    ).json()
    assert timeline["alert"]["state"] == "open" and "evil-site" not in str(timeline)
    with demo_api.sessions() as session:
        denied = session.scalars(select(AuditEntry.target).where(AuditEntry.action == "denied")).all()
    assert sorted(denied) == [f"POST /api/v1/alerts/{alert}/ack", f"POST /api/v1/alerts/{alert}/cancel"]
    # The demo page itself (same origin, JSON with the X-CSRF-Token header) still works signed out.
    async with demo_api.client.post(
        f"/api/v1/alerts/{alert}/ack", json={}, headers={"Origin": page, "X-CSRF-Token": ""}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["state"] == "acknowledged"
    async with demo_api.client.get("/api/v1/auth/me") as resp:
        assert (await resp.json())["name"] == "区管理员"


class _CountingHasher(PasswordHasher):
    """argon2's own hasher, counting how often a password is checked."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        type(self).verified += 1
        return super().verify(hash, password)


@pytest.mark.parametrize("name", ["李娜", "没有此人", "无密码用户", "停用用户"])
async def test_login_checks_a_password_hash_whether_or_not_the_user_exists(
    api: Api, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # The time of a failed login must not tell whether a name exists: every failure runs argon2 once.
    with api.sessions.begin() as session:
        add_user(session, "无密码用户", "admin", now=NOW)
        add_user(session, "停用用户", "admin", now=NOW, password=PASSWORD).disabled = True
    monkeypatch.setattr(auth, "_hasher", _CountingHasher())
    _CountingHasher.verified = 0
    assert await _login(api, name, "wrong") == 401
    assert _CountingHasher.verified == 1
    assert await _login(api, name, PASSWORD) == (200 if name == "李娜" else 401)


async def _next_event(resp: ClientResponse) -> bytes:
    """The next alert list of a board stream, skipping keepalives; b"" once the hub has ended it."""
    while True:
        chunk = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 10)
        if not chunk.startswith(b":"):
            return chunk


@pytest.mark.parametrize("ending", ["logout", "disabled"])
async def test_the_board_stream_ends_when_its_sign_in_does(api: Api, ending: str) -> None:
    assert await _login(api, "李娜", PASSWORD) == 200
    csrf = (await (await api.client.get("/api/v1/auth/me")).json())["csrf"]
    async with api.client.get("/api/v1/alerts/stream") as stream:
        assert "张秀英" in (await _next_event(stream)).decode()
        if ending == "logout":
            async with api.client.post("/api/v1/auth/logout", json={}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 200
        else:
            with api.sessions.begin() as session:
                session.execute(update(WebUser).where(WebUser.name == "李娜").values(disabled=True))
        with api.sessions.begin() as session:  # the board changes: a signed-out browser gets none of it
            session.add(AlertEvent(alert_id=api.alert_ids["H001/sos"], at=NOW, event="note", detail="x"))
        assert await _next_event(stream) == b""


@pytest.mark.parametrize("option", ["--elder", "--visitor-of"])
def test_user_add_refuses_an_elder_that_is_not_in_the_register(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    from hub.cli import main
    from tests.site_fixture import make_site

    sessions = make_site(
        tmp_path, f"sqlite:///{tmp_path / 'register.sqlite'}"
    )  # the default register of data_dir
    cfg = tmp_path / "hub.toml"
    cfg.write_text(f'data_dir = "{tmp_path}"\n', encoding="utf-8")
    role = "relative" if option == "--elder" else "visitor"
    argv = ["--config", str(cfg), "user", "add", "王家属", "--role", role, "--no-password"]
    with pytest.raises(SystemExit) as refused:
        main([*argv, option, "E001", option, "NOPE"])
    assert "NOPE" in str(refused.value.code) and "E001" not in str(refused.value.code)
    with sessions() as session:
        assert session.scalar(select(WebUser).where(WebUser.name == "王家属")) is None
    assert main([*argv, option, "E001"]) == 0
    assert "已添加用户 王家属" in capsys.readouterr().out
