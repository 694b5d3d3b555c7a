"""Hot-standby tests: two real hub processes on one PostgreSQL register and one real Mosquitto.

`pair` writes one site and two configs (same MQTT client id, same register, same data folder, their own HTTP
ports and instance names) and loads the site; `webhook` records every notification the hubs send; `TcpProxy`
stands between a hub and PostgreSQL so that a test can cut the hub off its database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gmqtt
import psycopg
import pytest
from aiohttp import web

from tests.hubproc import HubProcess, cli, sos_site, write_config
from tests.services.mosquitto import Broker, free_port
from tests.services.postgres import fresh_database

WEBHOOK_SECRET = "ha-s3cret"
# Short escalation waits (the critical policy's first step waits 180 s × this), so that a timer set before
# a kill is due after the takeover.
WAIT_SCALE = 0.05


@dataclass
class Webhook:
    """The local webhook every notification goes to (SMS, voice and robot routes alike)."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def keys(self) -> list[str]:
        """The idempotency key of every request, in order of arrival."""
        return [r["idempotency_key"] for r in self.received]


@contextlib.asynccontextmanager
async def local_webhook() -> AsyncIterator[Webhook]:
    """A local HTTP endpoint that records the JSON body (and the arrival time) of every POST."""
    received: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        body["header_key"] = request.headers.get("Idempotency-Key", "")
        body["arrived"] = time.monotonic()
        received.append(body)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Webhook(f"http://127.0.0.1:{port}/hook", received)
    finally:
        await runner.cleanup()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    """The notifications the hubs of a test send."""
    async with local_webhook() as hook:
        yield hook


@pytest.fixture
def ha_database() -> Iterator[str]:
    """A private PostgreSQL database for one test."""
    with fresh_database() as url:
        yield url


def cluster_toml(register_url: str, instance: str, webhook_url: str, cluster: str = "") -> str:
    """The sections a pair's config adds: register, cluster (plus `cluster` lines), and alerts that all go
    to the webhook."""
    return (
        f'[register]\nurl = "{register_url}"\n'
        f'[cluster]\ninstance = "{instance}"\n{cluster}'
        f"[alerts]\nwait_scale = {WAIT_SCALE}\nrate_limit_count = 10000\n"  # one duty line for all alerts
        'district_duty = [{name = "区值班", phone = "02367000000"}]\n'
        '[alerts.webhook]\nurl = "' + webhook_url + '"\n'
        '[alerts.routes]\nsms = ["webhook"]\nvoice = ["webhook"]\nrobot = ["webhook"]\n'
    )


@dataclass
class Pair:
    """Two hub processes that share everything but their HTTP port and instance name."""

    a: HubProcess
    b: HubProcess
    homes: int

    def stop(self) -> None:
        """Stop both (SIGTERM, then SIGKILL)."""
        for hub in (self.a, self.b):
            hub.stop()


def make_pair(
    tmp_path: Path,
    broker: Broker,
    register_url: str,
    webhook: Webhook,
    homes: int,
    *,
    register_url_a: str | None = None,
    cluster_a: str = "",
    cluster_b: str = "",
    own_data_dirs: bool = False,
) -> Pair:
    """Write the site and both configs, load the site, return the (not yet started) processes.

    `register_url_a`: where hub A reaches the register, if not directly (a `TcpProxy`); `cluster_a`,
    `cluster_b`: more lines of each one's [cluster] section (partitions, prefer); `own_data_dirs`: a data
    folder each (partitioned instances are active at once: one SQLite time-series file would be shared by
    two writers; a city shares InfluxDB instead).
    """
    client_id = f"hub-ha-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path / "data"
    env = {"HUB_WEBHOOK_SECRET": WEBHOOK_SECRET}
    if own_data_dirs:  # instances on several machines share the register's data key, not a folder
        env["HUB_DATA_KEY"] = base64.b64encode(os.urandom(32)).decode()
    hubs = []
    for name, url, more in (("a", register_url_a or register_url, cluster_a), ("b", register_url, cluster_b)):
        port = free_port()
        config = write_config(
            tmp_path / f"hub-{name}.toml",
            data_dir=tmp_path / f"data-{name}" if own_data_dirs else data_dir,
            broker_url=broker.url,
            http_port=port,
            client_id=client_id,
            extra=cluster_toml(url, f"hub-{name}", webhook.url, more),
        )
        hubs.append(HubProcess(config, port, tmp_path / f"hub-{name}.log", env=env))
    site = tmp_path / "site.yaml"
    site.write_text(sos_site(homes), encoding="utf-8")
    cli(hubs[1].config, "load", str(site), env=env)
    cli(hubs[1].config, "user", "add", "ha-admin", "--role", "admin", "--no-password", env=env)
    token = cli(hubs[1].config, "user", "token", "ha-admin", env=env).strip()
    for hub in hubs:
        hub.token = token
    return Pair(hubs[0], hubs[1], homes)


class SosPublisher:
    """Publishes SOS presses (with everyday motion traffic around them) at QoS 1 and knows which the broker
    accepted."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.client = gmqtt.Client(f"sos-pub-{uuid.uuid4().hex[:6]}")
        self.pressed: list[int] = []

    async def __aenter__(self) -> SosPublisher:
        await self.client.connect(self.broker.host, self.broker.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.disconnect()

    def press(self, home: int, homes: int) -> None:
        """One SOS press of home `home` (and its release), plus motion in a few other homes."""
        topic = f"zigbee2mqtt/h{home:04d}_sos"
        self.client.publish(topic, json.dumps({"action": "emergency", "linkquality": 90}), qos=1)
        self.client.publish(topic, json.dumps({"action": ""}), qos=1)
        for k in range(5):
            motion = f"zigbee2mqtt/h{(home + k) % homes:04d}_motion"
            self.client.publish(motion, json.dumps({"occupancy": k % 2 == 0}), qos=1)
        self.pressed.append(home)

    async def all_accepted(self) -> bool:
        """True once the broker acknowledged every publish (within 30 s)."""
        deadline = time.monotonic() + 30
        # gmqtt offers no event for 'every publish acknowledged'; poll its in-flight store.
        while self.client._persistent_storage.get_all() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return not self.client._persistent_storage.get_all()


@dataclass(frozen=True)
class OutboxRow:
    """One notification the hubs wrote down to send."""

    key: str
    alert_id: int | None
    role: str
    status: str


def outbox(register_url: str) -> list[OutboxRow]:
    """Every outbox row of the register."""
    dsn = register_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT idempotency_key, alert_id, role, status FROM alert_outbox").fetchall()
    return [OutboxRow(str(k), a, str(r), str(s)) for k, a, r, s in rows]


class TcpProxy:
    """A TCP relay from a local port to `target`; `cut()` closes it and every connection through it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones (the hub's database link is gone)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
