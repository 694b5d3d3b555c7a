"""A broker node dies under the hub while SOS traffic flows: every SOS the cluster acknowledged becomes an alert.

Real processes: a three-node NATS cluster (JetStream, MQTT 3.1.1, everything replicated to all three), the
hub as a child process on the list of all three nodes, and device clients spread over the nodes. A device
keeps what its broker has not acknowledged and, when its node goes away, sends it again to the next node,
as a real device does.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path

import pytest

from hub.sources.mqtt import parse_broker_url
from tests.hubproc import HubProcess, cli, sos_site, write_config
from tests.services.mosquitto import free_port
from tests.services.nats import NatsCluster

HOMES = 150
DEVICES = 3
MOTION_PER_SOS = 10


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def _string(s: str) -> bytes:
    return len(s.encode()).to_bytes(2, "big") + s.encode()


class Device:
    """An MQTT 3.1.1 device client: QoS 1, persistent session, its own list of what is not yet acknowledged.

    On a lost connection it moves to the next node of its list and sends everything unacknowledged again
    (with the DUP flag), until the cluster acknowledges it.
    """

    def __init__(self, client_id: str, urls: list[str]) -> None:
        self.client_id = client_id
        self.urls = urls
        self.node = -1
        self.unacked: dict[int, tuple[bytes, str]] = {}  # packet id → (PUBLISH without its first byte, key)
        self.acked: set[str] = set()
        self.reconnects = 0
        self._next_id = 0
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def connect(self) -> None:
        """Connect to the next node that accepts, and resend what is not acknowledged."""
        for _ in range(200):
            self.node = (self.node + 1) % len(self.urls)
            host, port, _tls = parse_broker_url(self.urls[self.node])
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
                # Clean session 0: the session (and its unacknowledged messages) outlives the connection.
                writer.write(_packet(0x10, _string("MQTT") + b"\x04\x00\x00\x3c" + _string(self.client_id)))
                connack = await asyncio.wait_for(reader.readexactly(4), 10)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                await asyncio.sleep(0.2)
                continue
            if connack[3] != 0:
                writer.close()
                await asyncio.sleep(0.2)
                continue
            self._writer = writer
            self._lost.clear()
            self._reader_task = asyncio.create_task(self._read(reader))
            for body, _key in list(self.unacked.values()):
                writer.write(bytes([0x32 | 0x08]) + body)  # PUBLISH, QoS 1, DUP
            return
        raise RuntimeError(f"{self.client_id}: no node of {self.urls} accepts a connection")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                header = (await reader.readexactly(1))[0]
                length = shift = 0
                while True:
                    byte = (await reader.readexactly(1))[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = await reader.readexactly(length)
                if header >> 4 == 4:  # PUBACK
                    entry = self.unacked.pop(int.from_bytes(body[:2], "big"), None)
                    if entry is not None:
                        self.acked.add(entry[1])
        except (OSError, asyncio.IncompleteReadError):
            pass
        self._lost.set()

    async def publish(self, topic: str, payload: bytes, key: str) -> None:
        """Publish with QoS 1; `key` is what the acknowledgement is recorded under."""
        if self._lost.is_set() or self._writer is None:
            await self._reconnect()
        self._next_id = self._next_id % 65535 + 1
        variable = _string(topic) + self._next_id.to_bytes(2, "big") + payload
        body = _remaining_length(len(variable)) + variable
        self.unacked[self._next_id] = (body, key)
        assert self._writer is not None
        self._writer.write(bytes([0x32]) + body)

    async def _reconnect(self) -> None:
        self.reconnects += 1
        if self._writer is not None:
            self._writer.close()
        await self.connect()

    async def settle(self, patience_s: float) -> None:
        """Until the cluster has acknowledged everything, following node losses."""
        deadline = time.monotonic() + patience_s
        while self.unacked and time.monotonic() < deadline:
            if self._lost.is_set():
                await self._reconnect()
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        """Disconnect cleanly."""
        if self._writer is not None and not self._lost.is_set():
            self._writer.write(b"\xe0\x00")
            await self._writer.drain()
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()


def _sos(home: int) -> tuple[str, bytes]:
    return f"zigbee2mqtt/h{home:04d}_sos", json.dumps({"action": "emergency", "linkquality": 90}).encode()


def _motion(home: int, on: bool) -> tuple[str, bytes]:
    return f"zigbee2mqtt/h{home:04d}_motion", json.dumps({"occupancy": on}).encode()


@pytest.mark.slow
async def test_every_sos_the_cluster_acknowledged_becomes_an_alert_when_the_hubs_node_dies(
    tmp_path: Path,
) -> None:
    with NatsCluster(tmp_path / "nats") as cluster:
        # Node A, where the hub starts: not the node leading the stream of QoS 1 messages. Losing that one
        # is a different case: NATS 2.9 then stops delivering to the hub's resumed session (docs/scaling.md
        # §2, known limits), which the broker must fix, not the hub.
        leader = cluster.stream_leader()
        a = next(i for i in range(len(cluster.nodes)) if i != leader)
        order = [a, *(i for i in range(len(cluster.nodes)) if i != a)]
        urls = [cluster.urls[i] for i in order]
        port = free_port()
        config = write_config(
            tmp_path / "hub.toml",
            data_dir=tmp_path / "data",
            broker_url=urls,
            protocol="3.1.1",
            http_port=port,
            client_id=f"hub-failover-{uuid.uuid4().hex[:6]}",
        )
        site = tmp_path / "site.yaml"
        site.write_text(sos_site(HOMES), encoding="utf-8")
        cli(config, "load", str(site))
        hub = HubProcess(config, port, tmp_path / "hub.log")
        hub.start()
        try:
            await asyncio.to_thread(hub.wait_ready)
            node_a = cluster.nodes[a]
            assert f"MQTT connected to 127.0.0.1:{node_a.mqtt_port}" in hub.log.read_text()

            # Device d starts on node d (A, B, C) and knows the others after it.
            devices = [
                Device(f"sos-dev-{d}-{uuid.uuid4().hex[:6]}", urls[d:] + urls[:d]) for d in range(DEVICES)
            ]
            for device in devices:
                await device.connect()
            killed = False
            for home in range(HOMES):
                device = devices[home % DEVICES]
                topic, payload = _sos(home)
                await device.publish(topic, payload, key=f"H{home:04d}")
                for k in range(MOTION_PER_SOS):
                    topic, payload = _motion((home + k) % HOMES, k % 2 == 0)
                    await device.publish(topic, payload, key="motion")
                await asyncio.sleep(0.01)
                if home == HOMES // 2:
                    cluster.kill(a)  # mid-traffic: the hub's node and device 0's
                    killed = True
            for device in devices:
                await device.settle(patience_s=90)
            assert killed
            assert devices[0].reconnects >= 1, "device 0 never noticed its node die"
            acked_sos = set().union(*(d.acked for d in devices)) - {"motion"}
            # A real device retries until the cluster takes its SOS: all of them were taken.
            assert acked_sos == {f"H{i:04d}" for i in range(HOMES)}
            for device in devices:
                await device.close()

            # The hub went to another node and found its session there (subscriptions, queued messages).
            deadline = time.monotonic() + 90
            resumed: set[int] = set()
            while not resumed and time.monotonic() < deadline:
                log = hub.log.read_text()
                found = re.findall(r"MQTT connected to 127\.0\.0\.1:(\d+) \(session present: 1\)", log)
                resumed = {int(p) for p in found} - {node_a.mqtt_port}
                await asyncio.sleep(0.5)
            assert resumed, hub.log.read_text()[-3000:]

            deadline = time.monotonic() + 120
            homes_with_sos: set[str] = set()
            while time.monotonic() < deadline:
                alerts = hub.get("/api/v1/alerts?limit=5000")
                homes_with_sos = {a["home"] for a in alerts if a["kind"] == "sos"}
                if acked_sos <= homes_with_sos and hub.get("/healthz")["pending"] == 0:
                    break
                await asyncio.sleep(0.5)
        finally:
            hub.stop()
    missing = sorted(acked_sos - homes_with_sos)
    assert missing == [], f"{len(missing)} acknowledged SOS never became an alert: {missing[:10]}"
