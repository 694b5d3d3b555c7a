"""Users, passwords, sessions and API tokens, and the middleware that puts a `Principal` on each request.

- Passwords: argon2id (argon2-cffi). Sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure
  unless the hub is bound to 127.0.0.1, see `WebConfig.cookies_secure`); the row keeps its sha256.
- CSRF: a cookie-authenticated POST/PUT/PATCH/DELETE must carry ``X-CSRF-Token`` equal to its session's
  token (handed out at login and by ``GET /api/v1/auth/me``). Bearer-token requests are exempt: a browser
  never attaches them on its own.
- API clients: ``Authorization: Bearer <token>`` with a token from ``eldercare-hub user token NAME``.
- Login is throttled per (name, client address): `WebConfig.login_max_failures` failures in the window → 429.
- Outside user auth: /healthz, /metrics (own optional token), the device ingest (device token), Twilio
  webhooks (signature), the login route, the OpenAPI document and the static page assets.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import secrets
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from yarl import URL

from hub.clock import Clock
from hub.register.models import Elder
from hub.web import audit
from hub.web.scope import ROLES, Principal
from hub.web.settings import WebConfig
from hub.web.tables import ApiToken, WebSession, WebUser

SESSION_COOKIE = "hub_session"
CSRF_COOKIE = "hub_csrf"
CSRF_HEADER = "X-CSRF-Token"
PRINCIPAL = web.RequestKey("principal", Principal)
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC_EXACT = frozenset(
    {"/", "/healthz", "/metrics", "/api/v1/ingest", "/api/v1/auth/login", "/api/v1/openapi.json"}
)
# Provider callbacks authenticate themselves (Twilio's signature, the Aliyun/Tencent callback token).
_PUBLIC_PREFIX = ("/static/", "/api/v1/alerts/twilio/", "/api/v1/alerts/aliyun/", "/api/v1/alerts/tencent/")
_LOOPBACK = frozenset({"127.0.0.1", "::1"})
_LOOPBACK_NAMES = _LOOPBACK | {"localhost"}
_hasher = PasswordHasher()


class UserError(ValueError):
    """A user could not be created or changed; the message says why (in Chinese)."""


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password nobody knows: what unknown users' passwords are checked against."""
    return _hasher.hash(secrets.token_urlsafe(16))


def check_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored argon2 hash ("" never matches).

    An empty hash (unknown user, user without a password) is still checked, against a dummy hash, so
    that the time of a failed login does not tell whether the name exists.
    """
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def add_user(
    session: Session,
    name: str,
    role: str,
    *,
    now: datetime,
    password: str = "",
    street: str = "",
    community: str = "",
    phone: str = "",
    elders: list[str] | None = None,
) -> WebUser:
    """Create a user; the role's jurisdiction fields are required (street staff need a street …)."""
    if role not in ROLES:
        raise UserError(f"角色 {role!r} 无效，应为 {'、'.join(ROLES)} 之一")
    if not name.strip():
        raise UserError("用户名不能为空")
    if role in ("street", "community") and not street:
        raise UserError("镇街、村（居）委会工作人员须指定 --street")
    if role == "community" and not community:
        raise UserError("村（居）委会工作人员须指定 --community")
    if role == "relative" and not elders:
        raise UserError("亲属须用 --elder 指定其老人编号")
    if role == "visitor" and not (elders or phone):
        raise UserError("探访人员须指定 --phone（与老人联系人中的探访人员电话一致）或 --visitor-of")
    if session.scalar(select(WebUser.id).where(WebUser.name == name)) is not None:
        raise UserError(f"用户 {name} 已存在")
    # A mistyped code would give a relative an account that silently shows them nothing.
    unknown = sorted(
        set(elders or ()) - set(session.scalars(select(Elder.code).where(Elder.code.in_(elders or ()))))
    )
    if unknown:
        raise UserError(
            f"老年人编号不在登记簿中：{'、'.join(unknown)}（先用 eldercare-hub load 或 import 登记）"
        )
    user = WebUser(
        name=name,
        role=role,
        street=street,
        community=community,
        phone=phone,
        elders=list(elders or []),
        password_hash=hash_password(password) if password else "",
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, name: str, password: str) -> None:
    """Replace a user's password (and sign out their browsers)."""
    user = _user(session, name)
    user.password_hash = hash_password(password)
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))


def issue_api_token(session: Session, name: str, *, now: datetime, label: str = "") -> str:
    """A new bearer token for `name`; only its hash is stored, so this is the one time it is seen."""
    user = _user(session, name)
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(token_sha256=_sha(token), user_id=user.id, label=label, created_at=now))
    audit.record(session, at=now, actor=name, role=user.role, action="token", target=label)
    return token


def _user(session: Session, name: str) -> WebUser:
    user = session.scalar(select(WebUser).where(WebUser.name == name))
    if user is None:
        raise UserError(f"没有用户 {name}")
    return user


def principal_of(user: WebUser, via: str) -> Principal:
    """The request identity of a user."""
    return Principal(
        user.id, user.name, user.role, user.street, user.community, user.phone, tuple(user.elders), via
    )


class LoginThrottle:
    """Counts failed logins per (name, address) in a sliding window (in memory: a restart forgets)."""

    def __init__(self, clock: Clock, max_failures: int, window_s: float) -> None:
        self._clock = clock
        self._max = max_failures
        self._window = timedelta(seconds=window_s)
        self._failures: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)

    def blocked(self, name: str, ip: str) -> bool:
        """Whether this pair has used up its attempts."""
        q = self._failures.get((name.lower(), ip))
        if not q:
            return False
        cutoff = self._clock.now() - self._window
        while q and q[0] < cutoff:
            q.popleft()
        return len(q) >= self._max

    def failed(self, name: str, ip: str) -> None:
        """Count one failure."""
        self._failures[(name.lower(), ip)].append(self._clock.now())

    def succeeded(self, name: str, ip: str) -> None:
        """Forget the failures of this pair."""
        self._failures.pop((name.lower(), ip), None)


class Authenticator:
    """Session and token checks against the register, plus the login throttle."""

    def __init__(self, sessions: Any, clock: Clock, config: WebConfig, host: str) -> None:
        self.sessions = sessions
        self.clock = clock
        self.config = config
        self.secure = config.cookies_secure(host)
        self.host = host
        self.throttle = LoginThrottle(clock, config.login_max_failures, config.login_window_s)

    def by_token(self, token: str) -> Principal | None:
        """The user of an API token (blocking)."""
        with self.sessions() as session:
            row = session.execute(
                select(WebUser)
                .join(ApiToken, ApiToken.user_id == WebUser.id)
                .where(ApiToken.token_sha256 == _sha(token))
            ).scalar_one_or_none()
            return None if row is None or row.disabled else principal_of(row, "token")

    def by_session(self, sid: str) -> tuple[Principal, str] | None:
        """The user and CSRF token of a live session (blocking)."""
        with self.sessions() as session:
            found = session.execute(
                select(WebSession, WebUser)
                .join(WebUser, WebSession.user_id == WebUser.id)
                .where(WebSession.id_sha256 == _sha(sid))
            ).one_or_none()
            if found is None:
                return None
            ws, user = found
            if ws.expires_at <= self.clock.now() or user.disabled:
                return None
            return principal_of(user, "cookie"), ws.csrf

    def by_name(self, name: str) -> Principal | None:
        """The demo user (blocking)."""
        with self.sessions() as session:
            user = session.scalar(select(WebUser).where(WebUser.name == name))
            return None if user is None or user.disabled else principal_of(user, "demo")

    def login(self, name: str, password: str, ip: str) -> tuple[Principal, str, str] | None:
        """Check the password; on success open a session and return (principal, session id, csrf)."""
        now = self.clock.now()
        with self.sessions.begin() as session:
            user = session.scalar(select(WebUser).where(WebUser.name == name))
            # The hash is checked first, for every name, so that all failures take the same time.
            matches = check_password(user.password_hash if user is not None else "", password)
            ok = matches and user is not None and not user.disabled
            audit.record(
                session,
                at=now,
                actor=name,
                role=user.role if user else "",
                action="login",
                outcome="ok" if ok else "failed",
                ip=ip,
            )
            if not ok or user is None:
                return None
            sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
            expires = now + timedelta(hours=self.config.session_hours)
            session.add(
                WebSession(
                    id_sha256=_sha(sid), user_id=user.id, csrf=csrf, created_at=now, expires_at=expires
                )
            )
            # Expired sessions of this user go now; nobody else needs them.
            session.execute(
                delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= now)
            )
            return principal_of(user, "cookie"), sid, csrf

    def logout(self, sid: str, who: Principal, ip: str) -> None:
        """End a session."""
        with self.sessions.begin() as session:
            session.execute(delete(WebSession).where(WebSession.id_sha256 == _sha(sid)))
            audit.record(session, at=self.clock.now(), actor=who.name, role=who.role, action="logout", ip=ip)


AUTH = web.AppKey("auth", Authenticator)


def client_ip(request: web.Request) -> str:
    """The peer address (no proxy headers are trusted: put the proxy's own rules in front)."""
    return request.remote or ""


def current(request: web.Request) -> Principal:
    """The principal of an authenticated request (the middleware guarantees one on private routes)."""
    who = request.get(PRINCIPAL)
    if who is None:
        raise web.HTTPUnauthorized(text=_err("请先登录"), content_type="application/json")
    return who


async def still_signed_in(request: web.Request) -> bool:
    """Whether the credentials of a long-lived request still stand for the same user, role and scope.

    The board's stream stays open for hours; it asks before each event, so that a logout, an expired
    session, a disabled user or a changed role ends it (the browser reconnects and must sign in again).
    """
    who = current(request)
    auth = request.app[AUTH]
    now: Principal | None
    if who.via == "token":
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        now = await asyncio.to_thread(auth.by_token, token)
    elif who.via == "cookie":
        found = await asyncio.to_thread(auth.by_session, request.cookies.get(SESSION_COOKIE, ""))
        now = found[0] if found else None
    else:
        now = await asyncio.to_thread(auth.by_name, who.name)
    return now == who


def _err(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


def is_public(path: str) -> bool:
    """Routes outside user auth."""
    return path in _PUBLIC_EXACT or path.startswith(_PUBLIC_PREFIX)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _local_demo_request(request: web.Request, bound_to: str) -> bool:
    """Whether the demo user may stand in: a loopback peer, a loopback bind and a loopback Host name.

    The Host check defeats DNS rebinding: a foreign site whose name resolves to 127.0.0.1 sends its own
    name in Host, and must not be signed in as the demo admin.
    """
    if request.remote not in _LOOPBACK or bound_to not in _LOOPBACK:
        return False
    try:
        name = URL(f"http://{request.host}").host
    except ValueError:
        return False
    return name in _LOOPBACK_NAMES


def _refuse_cross_site(request: web.Request) -> None:
    """403 unless a credential-less write comes from the hub's own page.

    The demo user needs no cookie, so the SameSite cookie and the CSRF token do not protect it: any page the
    operator opens could POST text/plain to 127.0.0.1. Our page sends its Origin and the X-CSRF-Token
    header; a custom header forces a CORS preflight, which the hub never grants to another site.
    """
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(
            text=_err(f"跨站请求被拒绝（来源 {origin[:100]}）"), content_type="application/json"
        )
    if CSRF_HEADER not in request.headers:
        raise web.HTTPForbidden(
            text=_err(f"缺少 {CSRF_HEADER} 请求头：写操作须由本系统页面发出"), content_type="application/json"
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate private routes (token, then cookie, then the local demo user); enforce CSRF."""
    if is_public(request.path):
        return await handler(request)
    auth = request.app[AUTH]
    header = request.headers.get("Authorization", "")
    who: Principal | None = None
    if header.startswith("Bearer "):
        who = await asyncio.to_thread(auth.by_token, header.removeprefix("Bearer ").strip())
        if who is None:
            raise web.HTTPUnauthorized(text=_err("令牌无效"), content_type="application/json")
    elif sid := request.cookies.get(SESSION_COOKIE):
        found = await asyncio.to_thread(auth.by_session, sid)
        if found is not None:
            who, csrf = found
            request[PRINCIPAL] = who  # so that a CSRF denial is audited under the user's name
            if request.method not in _SAFE:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent.encode(), csrf.encode()):
                    raise web.HTTPForbidden(
                        text=_err("CSRF 校验失败，请刷新页面"), content_type="application/json"
                    )
    if who is None and auth.config.demo_user and _local_demo_request(request, auth.host):
        if request.method not in _SAFE:
            _refuse_cross_site(request)
        who = await asyncio.to_thread(auth.by_name, auth.config.demo_user)
    if who is None:
        raise web.HTTPUnauthorized(text=_err("请先登录"), content_type="application/json")
    request[PRINCIPAL] = who
    return await handler(request)


@web.middleware
async def deny_audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Write every 403 to the audit log (who, what path, why)."""
    try:
        return await handler(request)
    except web.HTTPForbidden as exc:
        who = request.get(PRINCIPAL)
        auth = request.app[AUTH]
        name = who.name if isinstance(who, Principal) else "（未登录）"
        role = who.role if isinstance(who, Principal) else ""
        reason = exc.text or ""

        def write() -> None:
            with auth.sessions.begin() as session:
                audit.record(
                    session,
                    at=auth.clock.now(),
                    actor=name,
                    role=role,
                    action="denied",
                    target=f"{request.method} {request.path}"[:128],
                    outcome="denied",
                    ip=client_ip(request),
                    note=reason,
                )

        await asyncio.to_thread(write)
        raise


async def login(request: web.Request) -> web.Response:
    """POST /api/v1/auth/login ``{"name", "password"}``: sets the session and CSRF cookies."""
    auth = request.app[AUTH]
    if request.content_type != "application/json":
        # A cross-site form cannot send JSON without a CORS preflight: this blocks login CSRF.
        raise web.HTTPUnsupportedMediaType(text=_err("请以 JSON 提交"), content_type="application/json")
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text=_err("请求体必须是 JSON 对象"), content_type="application/json"
        ) from exc
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("name"), str)
        or not isinstance(body.get("password"), str)
    ):
        raise web.HTTPBadRequest(text=_err("需要 name 和 password"), content_type="application/json")
    name, password, ip = body["name"], body["password"], client_ip(request)
    if auth.throttle.blocked(name, ip):
        raise web.HTTPTooManyRequests(
            text=_err("登录失败次数过多，请稍后再试"), content_type="application/json"
        )
    result = await asyncio.to_thread(auth.login, name, password, ip)
    if result is None:
        auth.throttle.failed(name, ip)
        raise web.HTTPUnauthorized(text=_err("用户名或密码错误"), content_type="application/json")
    auth.throttle.succeeded(name, ip)
    who, sid, csrf = result
    resp = web.json_response(
        {"name": who.name, "role": who.role, "role_zh": ROLES[who.role], "csrf": csrf},
        dumps=lambda d: json.dumps(d, ensure_ascii=False),
    )
    max_age = int(auth.config.session_hours * 3600)
    resp.set_cookie(
        SESSION_COOKIE, sid, httponly=True, samesite="Strict", secure=auth.secure, path="/", max_age=max_age
    )
    # Readable by the page's script, which echoes it in X-CSRF-Token (double submit).
    resp.set_cookie(CSRF_COOKIE, csrf, samesite="Strict", secure=auth.secure, path="/", max_age=max_age)
    return resp


async def logout(request: web.Request) -> web.Response:
    """POST /api/v1/auth/logout: ends the session."""
    who = current(request)
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        await asyncio.to_thread(request.app[AUTH].logout, sid, who, client_ip(request))
    resp = web.json_response({"status": "ok"})
    resp.del_cookie(SESSION_COOKIE, path="/")
    resp.del_cookie(CSRF_COOKIE, path="/")
    return resp


async def me(request: web.Request) -> web.Response:
    """GET /api/v1/auth/me: who is signed in (and the CSRF token of a cookie session)."""
    who = current(request)
    csrf = ""
    sid = request.cookies.get(SESSION_COOKIE)
    if who.via == "cookie" and sid:
        found = await asyncio.to_thread(request.app[AUTH].by_session, sid)
        csrf = found[1] if found else ""
    body = {
        "name": who.name,
        "role": who.role,
        "role_zh": ROLES[who.role],
        "street": who.street,
        "community": who.community,
        "elders": list(who.elders),
        "via": who.via,
        "csrf": csrf,
    }
    return web.json_response(body, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def install(app: web.Application, sessions: Any, clock: Clock, config: WebConfig, host: str) -> None:
    """Add the authenticator, the middlewares and the auth routes to `app`."""
    app[AUTH] = Authenticator(sessions, clock, config, host)
    app.middlewares.append(deny_audit_middleware)
    app.middlewares.append(auth_middleware)
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/auth/logout", logout)
    app.router.add_get("/api/v1/auth/me", me)
