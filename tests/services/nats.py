"""A private three-node NATS cluster (JetStream + MQTT) on free loopback ports, from Debian's `nats-server`.

NATS speaks MQTT 3.1.1 on top of JetStream: sessions, subscriptions and QoS 1 messages are JetStream streams
and consumers, replicated here to all three nodes (`stream_replicas`, `consumer_replicas`), so a device or the
hub that loses its node reconnects to another and finds its session there. `NatsCluster` is a context manager
that starts the nodes, waits until JetStream has a meta leader and every node accepts an MQTT CONNECT, can
SIGKILL and restart a node, and stops and removes everything at the end.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from tests.services.mosquitto import ROOT, free_port, wait_port

CLUSTER_NAME = "hub-test"
# The CONNACKs that accept a connection (session present or not), and a DISCONNECT.
_CONNACK_OK = (b"\x20\x02\x00\x00", b"\x20\x02\x01\x00")
_DISCONNECT = b"\xe0\x00"


def _connect_packet(client_id: str) -> bytes:
    """A 3.1.1 CONNECT with clean session and keepalive 60."""
    cid = client_id.encode()
    return (
        bytes([0x10, 10 + 2 + len(cid)]) + b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    )


def nats_binary() -> str:
    """Debian's nats-server, installed by scripts/services.sh when missing."""
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(binary).exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "nats"], check=True)
    return binary


@dataclass
class NatsNode:
    """One node: its ports, folder and process."""

    name: str
    workdir: Path
    client_port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The node's MQTT listener as the hub's config takes it."""
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    @property
    def running(self) -> bool:
        """Whether its process is alive."""
        return self.process is not None and self.process.poll() is None

    def monitor(self, path: str, timeout: float = 5) -> dict[str, Any] | None:
        """A page of the node's HTTP monitoring (`/jsz…`, `/connz…`), or None while it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=timeout) as r:
                return dict(json.load(r))
        except (OSError, ValueError):
            return None

    def jsz(self) -> dict[str, Any] | None:
        """The node's JetStream monitoring page, or None while it does not answer."""
        return self.monitor("/jsz", timeout=1)

    def accepts_mqtt(self) -> bool:
        """Whether an MQTT CONNECT is accepted (it needs JetStream up for the account, not just the port)."""
        try:
            with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=2) as s:
                s.sendall(_connect_packet(f"ready-probe-{self.name}"))
                reply = s.recv(4)
                s.sendall(_DISCONNECT)
                return reply in _CONNACK_OK
        except OSError:
            return False


class NatsCluster:
    """`size` nats-server processes routed to each other as one cluster, each with JetStream and MQTT.

    `ack_wait`: how long a node waits for the PUBACK of a QoS 1 message it sent before sending it again; JetStream
    redelivers what a lost connection had not acknowledged only after this, so tests keep it short (the
    default is 30 s). `max_ack_pending`: QoS 1 messages in flight to one subscription without PUBACK (the
    receive maximum of NATS); the sum over a session's subscriptions may not exceed 65535, and a filter ending
    in `#` counts twice. NATS refuses (SUBACK 0x80) every subscription past that sum, and on a session resumed
    on another node it re-creates the subscriptions in no fixed order, so a different one may be refused
    there. The hub's 10 ecosystem filters (5 with `#`) and its canary count 16: 1000 leaves room to spare
    (the NATS default is 1024).
    """

    def __init__(
        self,
        workdir: Path,
        size: int = 3,
        *,
        ack_wait: str = "5s",
        max_ack_pending: int = 1000,
    ) -> None:
        self.workdir = workdir
        self.nodes = [NatsNode(f"n{i + 1}", workdir / f"n{i + 1}") for i in range(size)]
        self.ack_wait = ack_wait
        self.max_ack_pending = max_ack_pending
        self._binary = nats_binary()

    @property
    def urls(self) -> list[str]:
        """Every node's MQTT URL, in node order."""
        return [node.url for node in self.nodes]

    def __enter__(self) -> Self:
        try:
            for node in self.nodes:
                self._write_config(node)
                self._spawn(node)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _write_config(self, node: NatsNode) -> None:
        node.workdir.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes if n is not node)
        replicas = min(3, len(self.nodes))
        (node.workdir / "nats.conf").write_text(
            f"server_name: {node.name}\n"
            f"listen: 127.0.0.1:{node.client_port}\n"
            f"http: 127.0.0.1:{node.http_port}\n"
            f'jetstream {{ store_dir: "{node.workdir / "jetstream"}" }}\n'
            + (  # one node alone is no cluster: JetStream refuses a cluster block without routes
                f"cluster {{\n  name: {CLUSTER_NAME}\n  listen: 127.0.0.1:{node.cluster_port}\n  routes: [{routes}]\n}}\n"
                if routes
                else ""
            )
            + "mqtt {\n"
            f"  listen: 127.0.0.1:{node.mqtt_port}\n"
            f"  stream_replicas: {replicas}\n"
            f"  consumer_replicas: {replicas}\n"
            f'  ack_wait: "{self.ack_wait}"\n'
            f"  max_ack_pending: {self.max_ack_pending}\n"
            "}\n",
            encoding="utf-8",
        )

    def _spawn(self, node: NatsNode) -> None:
        with (node.workdir / "nats.log").open("ab") as log:
            node.process = subprocess.Popen(
                [self._binary, "-c", str(node.workdir / "nats.conf")], stdout=log, stderr=log
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every running node knows the JetStream meta leader and accepts an MQTT connection."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if not node.running:
                continue
            wait_port(node.mqtt_port, max(1.0, deadline - time.monotonic()))
            while True:
                jsz = node.jsz() or {}
                meta = jsz.get("meta_cluster")
                clustered = len(self.nodes) > 1  # a single node has no meta leader to wait for
                if (not clustered or (isinstance(meta, dict) and meta.get("leader"))) and node.accepts_mqtt():
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"NATS node {node.name} not ready after {timeout}s: {self.log_tail(node)}"
                    )
                time.sleep(0.2)

    def node_of(self, mqtt_client: str) -> int | None:
        """The index of the running node an MQTT client (by client id) is connected to, if any."""
        for i, node in enumerate(self.nodes):
            if not node.running:
                continue
            connz = node.monitor(f"/connz?mqtt_client={mqtt_client}", timeout=2)
            if connz is None:
                continue
            if any(c.get("mqtt_client") == mqtt_client for c in connz.get("connections") or []):
                return i
        return None

    def consumers(self, stream: str = "$MQTT_msgs") -> list[dict[str, object]]:
        """What every running node says of the consumers of `stream` (the MQTT sessions' subscriptions):
        name, the node asked, leader, delivered/ack floor, pending, ack pending, redelivered — for a failed
        test's report."""
        found: list[dict[str, object]] = []
        for node in self.nodes:
            if not node.running:
                continue
            jsz = node.monitor("/jsz?accounts=true&streams=true&consumers=true")
            if jsz is None:
                continue
            for account in jsz.get("account_details") or []:
                for detail in account.get("stream_detail") or []:
                    if detail.get("name") != stream:
                        continue
                    for c in detail.get("consumer_detail") or []:
                        found.append(
                            {
                                "node": node.name,
                                "name": c.get("name"),
                                "filter": (c.get("config") or {}).get("filter_subject"),
                                "leader": (c.get("cluster") or {}).get("leader"),
                                "delivered": (c.get("delivered") or {}).get("stream_seq"),
                                "ack_floor": (c.get("ack_floor") or {}).get("stream_seq"),
                                "num_pending": c.get("num_pending"),
                                "num_ack_pending": c.get("num_ack_pending"),
                                "num_redelivered": c.get("num_redelivered"),
                                "push_bound": c.get("push_bound"),
                            }
                        )
        return found

    def stream_leader(self, stream: str = "$MQTT_msgs") -> int:
        """The index of the node leading a JetStream stream (`$MQTT_msgs` holds the QoS 1 messages)."""
        for node in self.nodes:
            if not node.running:
                continue
            jsz = node.monitor("/jsz?accounts=true&streams=true")
            if jsz is None:
                continue
            for account in jsz.get("account_details") or []:
                for detail in account.get("stream_detail") or []:
                    leader = (detail.get("cluster") or {}).get("leader")
                    if detail.get("name") == stream and leader:
                        return next(i for i, n in enumerate(self.nodes) if n.name == leader)
        raise RuntimeError(f"no node leads the stream {stream}")

    def kill(self, index: int) -> NatsNode:
        """SIGKILL node `index` (no chance to hand anything over)."""
        node = self.nodes[index]
        if node.process is not None and node.running:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(10)
        return node

    def restart(self, index: int) -> NatsNode:
        """Start node `index` again on its ports and store; returns when the cluster is ready."""
        node = self.nodes[index]
        self._spawn(node)
        self.wait_ready()
        return node

    def stop(self) -> None:
        """Stop every node and remove its JetStream store (the logs stay for a failed test's report)."""
        for node in self.nodes:
            if node.process is not None and node.running:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(10)
        for node in self.nodes:
            shutil.rmtree(node.workdir / "jetstream", ignore_errors=True)

    @staticmethod
    def log_tail(node: NatsNode, chars: int = 2000) -> str:
        """The end of a node's log (for failure messages)."""
        log = node.workdir / "nats.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


@pytest.fixture
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A fresh three-node NATS cluster for one test (tests kill its nodes)."""
    with NatsCluster(tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster
