"""The hub's parts that the HTTP layer may call (`Services`), and the application key they live under.

`hub.web.api.build_app` puts one `Services` on the aiohttp application (`SERVICES`, an `AppKey`: typed, and
aiohttp's own way to share state between handlers); every handler module takes it from the request. The
handler modules import this small module rather than `hub.web.api`, which imports them to add their routes,
so the web layer is a tree: api → handler modules → services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import Clock
from hub.cluster import ClusterRole
from hub.health import Health
from hub.ingest.pipeline import Pipeline
from hub.store.base import TimeSeriesStore
from hub.web.settings import WebConfig


@dataclass
class Services:
    """What the HTTP layer may call."""

    sessions: sessionmaker[Session]
    store: TimeSeriesStore
    pipeline: Pipeline
    clock: Clock
    mqtt_connected: Callable[[], bool]
    web: WebConfig = field(default_factory=WebConfig)
    host: str = "127.0.0.1"  # where the HTTP server is bound (decides the cookie Secure flag)
    health: Health | None = None  # the hub's checks; None in tests that build the API alone
    cluster: ClusterRole | None = (
        None  # this instance's role (active/standby); None in tests of the API alone
    )
    partitions: int = 1  # `cluster.partitions`: how many partitions the board's 分区 page lists


SERVICES = web.AppKey("services", Services)
"""Where `build_app` puts the `Services` and every handler finds them: ``request.app[SERVICES]``."""
