"""An in-process API on a real register (SQLite) and a real time-series store, with one user per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import FrozenClock
from hub.register.models import Alert, Home
from hub.store import SqliteStore
from hub.web.api import build_app
from hub.web.auth import add_user, issue_api_token
from hub.web.services import Services
from hub.web.settings import WebConfig
from tests.site_fixture import make_site

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"

# name → (role, extra fields); the site has H001/E001 on 双龙湖街道/紫薇社区 (visitor 李娜 13900000001)
# and H002/E002 on 龙溪街道/松牌社区.
USERS: dict[str, tuple[str, dict[str, object]]] = {
    "区管理员": ("admin", {}),
    "双龙湖街道干部": ("street", {"street": "双龙湖街道"}),
    "松牌社区干部": ("community", {"street": "龙溪街道", "community": "松牌社区"}),
    "李娜": ("visitor", {"phone": "13900000001"}),
    "王家属": ("relative", {"elders": ["E002"]}),
    "设备维护": ("maintenance", {}),
}


@dataclass
class Api:
    """The test client, the register, the clock and an API token per user."""

    client: TestClient
    sessions: sessionmaker[Session]
    clock: FrozenClock
    store: SqliteStore
    tokens: dict[str, str]
    alert_ids: dict[str, int]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def _alert(session: Session, home: str, kind: str, alert_class: str, at: datetime) -> int:
    home_id = session.scalar(select(Home.id).where(Home.code == home))
    assert home_id is not None
    row = Alert(
        home_id=home_id,
        kind=kind,
        severity="critical" if kind == "sos" else "warning",
        alert_class=alert_class,
        state="open",
        active_key=f"{home}/{kind}",
        device_code=f"{home}-sos",
        explanation="测试",
        opened_at=at,
        last_seen_at=at,
    )
    session.add(row)
    session.flush()
    return row.id


async def make_api(
    tmp_path: Path, web: WebConfig | None = None, host: str = "127.0.0.1", url: str | None = None
) -> AsyncIterator[Api]:
    """Build the app over a fresh site (SQLite in tmp_path unless `url`); yield a client."""
    sessions = make_site(tmp_path, url)
    clock = FrozenClock(NOW)
    with sessions.begin() as session:
        tokens = {}
        for name, (role, extra) in USERS.items():
            add_user(session, name, role, now=NOW, password=PASSWORD, **extra)  # type: ignore[arg-type]
            tokens[name] = issue_api_token(session, name, now=NOW)
        alert_ids = {
            "H001/sos": _alert(session, "H001", "sos", "elder", NOW - timedelta(minutes=5)),
            "H002/sos": _alert(session, "H002", "sos", "elder", NOW - timedelta(minutes=3)),
            "H002/offline": _alert(session, "H002", "offline", "device", NOW - timedelta(hours=2)),
        }
    async with SqliteStore(tmp_path / "ts.sqlite") as store:
        services = Services(sessions, store, None, clock, lambda: True, web=web or WebConfig(), host=host)  # type: ignore[arg-type]
        async with TestClient(TestServer(build_app(services))) as client:
            yield Api(client, sessions, clock, store, tokens, alert_ids)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """The API on 127.0.0.1 defaults."""
    async for value in make_api(tmp_path):
        yield value
