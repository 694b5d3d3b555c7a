"""Login, cookies, CSRF, throttling, tokens, the audit log's retention, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.web import audit
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
        if r.method in ("GET", "POST") and path and not path.startswith("/static"):
            routes.add((r.method, path.replace("{what:ledger|register|visits|bundle}", "{what}")))
    assert routes == described
    served = await (await api.client.get("/api/v1/openapi.json")).json()
    assert served["openapi"].startswith("3.") and served["paths"] == document()["paths"]


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
