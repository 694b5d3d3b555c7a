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
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gmqtt
import psycopg
import pytest
from aiohttp import web
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from hub.sources.mqtt import parse_broker_url
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
    client_id: str  # the MQTT client id both use (one broker session)

    def stop(self) -> None:
        """Stop both (SIGTERM, then SIGKILL)."""
        for hub in (self.a, self.b):
            hub.stop()


def make_pair(
    tmp_path: Path,
    broker: Broker | list[str],
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
    two writers; a city shares InfluxDB instead). `broker`: one Mosquitto, or the MQTT URLs of a NATS
    cluster's nodes (MQTT 3.1.1, the only version NATS speaks); hub B gets the list turned by one, so that
    it takes the session over on another node than the one hub A started on.
    """
    client_id = f"hub-ha-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path / "data"
    env = {"HUB_WEBHOOK_SECRET": WEBHOOK_SECRET}
    if own_data_dirs:  # instances on several machines share the register's data key, not a folder
        env["HUB_DATA_KEY"] = base64.b64encode(os.urandom(32)).decode()
    hubs = []
    urls: list[str | list[str]] = (
        [broker.url, broker.url] if isinstance(broker, Broker) else [broker, broker[1:] + broker[:1]]
    )
    protocol = "5" if isinstance(broker, Broker) else "3.1.1"
    for (name, url, more), broker_url in zip(
        (("a", register_url_a or register_url, cluster_a), ("b", register_url, cluster_b)), urls, strict=True
    ):
        port = free_port()
        config = write_config(
            tmp_path / f"hub-{name}.toml",
            data_dir=tmp_path / f"data-{name}" if own_data_dirs else data_dir,
            broker_url=broker_url,
            protocol=protocol,
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
    return Pair(hubs[0], hubs[1], homes, client_id)


class SosPublisher:
    """Publishes SOS presses (with everyday motion traffic around them) at QoS 1 and knows which the broker
    accepted. `broker`: a Mosquitto, or the MQTT URL of one node of a NATS cluster (MQTT 3.1.1)."""

    def __init__(self, broker: Broker | str) -> None:
        if isinstance(broker, Broker):
            self.host, self.port, self.version = broker.host, broker.port, MQTTv50
        else:
            host, port, _tls = parse_broker_url(broker)
            self.host, self.port, self.version = host, port, MQTTv311
        self.client = gmqtt.Client(f"sos-pub-{uuid.uuid4().hex[:6]}")
        self.pressed: list[int] = []

    async def __aenter__(self) -> SosPublisher:
        await self.client.connect(self.host, self.port, version=self.version)
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


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class ClusterDevice:
    """A device on a broker cluster, as real ones behave: MQTT 3.1.1, clean session, one QoS 1 message in
    flight at a time, sent again (DUP) until a PUBACK comes; when its node does not answer (connection
    lost, no CONNACK or PUBACK within `timeout_s`) it goes on to the next node of its list.

    `acknowledged`: the topics and payloads the cluster acknowledged, in order. `resent`: messages that
    needed more than one attempt; `moves`: how often it changed node.
    """

    def __init__(self, name: str, urls: list[str], timeout_s: float = 5.0) -> None:
        self.name = name
        self.nodes = [(u.split("//")[1].split(":")[0], int(u.rsplit(":", 1)[1])) for u in urls]
        self.timeout_s = timeout_s
        self.acknowledged: list[tuple[str, bytes]] = []
        self.resent = 0
        self.moves = 0
        self._node = 0
        self._mid = 0
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = self.nodes[self._node]
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout_s)
        cid = self.name.encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x1e" + len(cid).to_bytes(2, "big") + cid
        writer.write(b"\x10" + _remaining_length(len(body)) + body)
        connack = await asyncio.wait_for(reader.readexactly(4), self.timeout_s)
        if connack[0] != 0x20 or connack[3] != 0:
            writer.close()
            raise ConnectionError(f"CONNACK {connack!r}")
        return reader, writer

    async def _drop(self) -> None:
        if self._conn is not None:
            self._conn[1].transport.abort()
            self._conn = None
        self._node = (self._node + 1) % len(self.nodes)
        self.moves += 1

    async def publish(self, topic: str, payload: bytes) -> None:
        """Until the cluster acknowledged it (a device keeps its SOS until then)."""
        self._mid = self._mid % 65535 + 1
        attempt = 0
        while True:
            try:
                if self._conn is None:
                    self._conn = await self._connect()
                reader, writer = self._conn
                t = topic.encode()
                body = len(t).to_bytes(2, "big") + t + self._mid.to_bytes(2, "big") + payload
                writer.write(bytes([0x3A if attempt else 0x32]) + _remaining_length(len(body)) + body)
                await writer.drain()
                while True:  # PUBACK for this packet id (anything else, e.g. a PINGRESP, is skipped)
                    head = await asyncio.wait_for(reader.readexactly(2), self.timeout_s)
                    rest = await asyncio.wait_for(reader.readexactly(head[1]), self.timeout_s)
                    if head[0] == 0x40 and int.from_bytes(rest[:2], "big") == self._mid:
                        break
                self.acknowledged.append((topic, payload))
                return
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                attempt += 1
                self.resent += attempt == 1
                await self._drop()
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        """DISCONNECT and close."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn[1].write(b"\xe0\x00")
                await self._conn[1].drain()
            self._conn[1].close()
            self._conn = None


def sos_alert_homes(register_url: str) -> Counter[str]:
    """How many SOS alerts each home has in the register (open or closed)."""
    dsn = register_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT h.code FROM alerts a JOIN homes h ON h.id = a.home_id WHERE a.kind = 'sos'"
        ).fetchall()
    return Counter(str(code) for (code,) in rows)
