"""A clustered broker: SOS traffic flows from devices spread over a three-node NATS cluster (JetStream, MQTT
3.1.1, everything replicated three times) to the active hub of a hot-standby pair on a PostgreSQL register;
the broker node the active hub uses is SIGKILLed, or the active hub itself is. Every SOS the cluster
acknowledged becomes an alert, and no notification goes out twice beyond its idempotency key."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ha.conftest import ClusterDevice, Pair, Webhook, make_pair, outbox, sos_alert_homes
from tests.hubproc import HubProcess
from tests.services.nats import NatsCluster

HOMES = 150
DEVICES = 3
MOTION_PER_SOS = 10  # everyday traffic around each press
# How long acknowledged SOS may take to become alerts after the kill: a new stream/consumer leader is
# elected (seconds on a loaded box), and what the lost connection had in flight comes again after the
# cluster's ack_wait (5 s here). A safety net, not a speed claim.
ALERTS_WITHIN_S = 90.0
# The hub's health says MQTT is up again within this (it has reconnected: the alerts came through).
MQTT_OK_WITHIN_S = 30.0
TAKEOVER_LIMIT_S = 30.0
# The urgent session subscribes two filters per SOS button (its state and availability), and NATS refuses a
# session whose subscriptions' max_ack_pending add up to more than 65535: 2 × 150 homes × 100 fits.
MAX_ACK_PENDING = 100


@pytest.fixture
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A fresh three-node NATS cluster whose in-flight window fits the urgent session's per-device filters."""
    with NatsCluster(tmp_path_factory.mktemp("nats"), max_ack_pending=MAX_ACK_PENDING) as cluster:
        yield cluster


async def _start(pair: Pair, cluster: NatsCluster) -> int:
    """Hub A active, hub B standby, A's subscriptions in place; the index of the node A is connected to."""
    pair.a.start()
    await asyncio.to_thread(pair.a.wait_role, "active")
    await asyncio.to_thread(pair.a.wait_ready)
    pair.b.start()
    await asyncio.to_thread(pair.b.wait_role, "standby")
    # The session's subscriptions are durable consumers the cluster creates one by one (replicated):
    # until the last exists, a publish on its topics reaches nobody. Wait until their number stops growing.
    seen, stable_since = 0, time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = len({c["name"] for c in await asyncio.to_thread(cluster.consumers)})
        if now != seen:
            seen, stable_since = now, time.monotonic()
        elif seen and time.monotonic() - stable_since > 1.5:
            break
        await asyncio.sleep(0.25)
    node = await asyncio.to_thread(cluster.node_of, pair.client_id)
    assert node is not None, "the hub is connected to no node of the cluster"
    return node


async def _press_all(devices: list[ClusterDevice], on_half: asyncio.Event) -> None:
    """Home h's SOS button is on device h % DEVICES; each device presses its homes in turn. `on_half` is
    set once half the presses were acknowledged."""
    done = 0

    async def run(device: ClusterDevice, homes: range) -> None:
        nonlocal done
        for home in homes:
            payload = json.dumps({"action": "emergency", "linkquality": 90}).encode()
            await device.publish(f"zigbee2mqtt/h{home:04d}_sos", payload)
            for k in range(MOTION_PER_SOS):
                motion = json.dumps({"occupancy": k % 2 == 0}).encode()
                await device.publish(f"zigbee2mqtt/h{(home + k) % HOMES:04d}_motion", motion)
            done += 1
            if done >= HOMES // 2:
                on_half.set()
            await asyncio.sleep(0.02)

    await asyncio.gather(*(run(d, range(i, HOMES, DEVICES)) for i, d in enumerate(devices)))


def _acknowledged_homes(devices: list[ClusterDevice]) -> set[str]:
    return {t.split("/")[1][:5].upper() for d in devices for t, _ in d.acknowledged if t.endswith("_sos")}


async def _until_alerts(register_url: str, homes: set[str]) -> tuple[Counter[str], float]:
    """The SOS alerts per home once every home of `homes` has one (or after ALERTS_WITHIN_S); when the last
    one came."""
    start = time.monotonic()
    while True:
        alerts = await asyncio.to_thread(sos_alert_homes, register_url)
        if homes <= set(alerts) or time.monotonic() - start > ALERTS_WITHIN_S:
            return alerts, time.monotonic()
        await asyncio.sleep(0.25)


def _report(cluster: NatsCluster, pair: Pair) -> str:
    """What the cluster and the hubs say, for a failure message."""
    consumers = "\n".join(json.dumps(c) for c in cluster.consumers())
    logs = "\n".join(f"--- {n.name}\n{cluster.log_tail(n, 1500)}" for n in cluster.nodes)
    hubs = "\n".join(f"--- {h.log.name}\n{h.log.read_text()[-2500:]}" for h in (pair.a, pair.b))
    return f"consumers:\n{consumers}\nnodes:\n{logs}\nhubs:\n{hubs}"


def _mqtt_check(hub: HubProcess) -> dict[str, object]:
    """The hub's `mqtt` health check: connected, and every subscription granted by the node it is on."""
    health = hub.health() or {}
    return next((c for c in health.get("checks", []) if c["check"] == "mqtt"), {"ok": None})


async def _until_mqtt_ok(hub: HubProcess) -> dict[str, object]:
    """The `mqtt` check once it passes, or as it stands after MQTT_OK_WITHIN_S. Polled from a thread: the
    webhook the hub is still sending to is served by this test's event loop."""
    deadline = time.monotonic() + MQTT_OK_WITHIN_S
    while True:
        check = await asyncio.to_thread(_mqtt_check, hub)
        if check["ok"] is True or time.monotonic() > deadline:
            return check
        await asyncio.sleep(0.25)


def _device_urls(cluster: NatsCluster, i: int) -> list[str]:
    """Device i starts on node i (the devices are spread over the cluster)."""
    urls = cluster.urls
    return urls[i:] + urls[:i]


@pytest.mark.slow
async def test_sigkill_of_the_broker_node_the_active_hub_uses_loses_no_acknowledged_sos(
    nats_cluster: NatsCluster, ha_database: str, webhook: Webhook, tmp_path: Path
) -> None:
    # The worst case: the hub starts on the node that leads the stream of QoS 1 messages, so the kill
    # takes the hub's connection and the stream's leader at once.
    leader = await asyncio.to_thread(nats_cluster.stream_leader)
    pair = make_pair(tmp_path, _device_urls(nats_cluster, leader), ha_database, webhook, HOMES)
    devices = [ClusterDevice(f"dev-{i}", _device_urls(nats_cluster, i)) for i in range(DEVICES)]
    try:
        node = await _start(pair, nats_cluster)
        half = asyncio.Event()
        pressing = asyncio.create_task(_press_all(devices, half))
        await half.wait()
        leader = await asyncio.to_thread(nats_cluster.stream_leader)
        nats_cluster.kill(node)
        killed = time.monotonic()
        await pressing
        acknowledged = _acknowledged_homes(devices)
        assert len(acknowledged) == HOMES  # each device re-sends until some node acknowledges
        alerts, last = await _until_alerts(ha_database, acknowledged)
        missing = sorted(acknowledged - set(alerts))
        print(
            f"killed node n{node + 1} (the $MQTT_msgs leader was n{leader + 1}); {len(acknowledged)} SOS "
            f"acknowledged, {len(missing)} lost; last alert {last - killed:.1f} s after the kill; device "
            f"re-sends {sum(d.resent for d in devices)}; hub now on node index "
            f"{nats_cluster.node_of(pair.client_id)}"
        )
        assert missing == [], f"SOS lost: {len(missing)} {missing[:10]}\n{_report(nats_cluster, pair)}"
        # A re-sent press or a redelivery counts on the open alert: one alert per home.
        assert {h: n for h, n in alerts.items() if n > 1} == {}
        check = await _until_mqtt_ok(pair.a)
        assert check["ok"] is True, f"{check}; /healthz: {pair.a.health()}"
        # The hub did not die: no notification is in flight twice, so none arrives twice.
        await asyncio.sleep(1)
        assert {k: n for k, n in Counter(webhook.keys()).items() if n > 1} == {}
        assert set(webhook.keys()) <= {r.key for r in outbox(ha_database)}
    finally:
        for device in devices:
            await device.close()
        pair.stop()


@pytest.mark.slow
async def test_sigkill_of_the_active_hub_on_the_cluster_the_standby_takes_the_session_over(
    nats_cluster: NatsCluster, ha_database: str, webhook: Webhook, tmp_path: Path
) -> None:
    # Hub A starts on node 1, hub B on node 2: the standby takes the session over on another node.
    pair = make_pair(tmp_path, nats_cluster.urls, ha_database, webhook, HOMES)
    devices = [ClusterDevice(f"dev-{i}", _device_urls(nats_cluster, i)) for i in range(DEVICES)]
    try:
        await _start(pair, nats_cluster)
        half = asyncio.Event()
        pressing = asyncio.create_task(_press_all(devices, half))
        await half.wait()
        pair.a.kill()
        killed = time.monotonic()
        # What was marked sent before the kill must not go out again; what was in flight may, with its key.
        sent_at_kill = {r.key for r in await asyncio.to_thread(outbox, ha_database) if r.status == "sent"}
        await asyncio.to_thread(pair.b.wait_role, "active", TAKEOVER_LIMIT_S)
        takeover = time.monotonic() - killed
        await pressing
        acknowledged = _acknowledged_homes(devices)
        assert len(acknowledged) == HOMES
        alerts, last = await _until_alerts(ha_database, acknowledged)
        missing = sorted(acknowledged - set(alerts))
        print(
            f"active hub killed: standby active after {takeover:.2f} s, last alert {last - killed:.1f} s "
            f"after the kill; {len(acknowledged)} SOS acknowledged, {len(missing)} lost"
        )
        assert missing == [], f"SOS lost: {len(missing)} {missing[:10]}\n{_report(nats_cluster, pair)}"
        # A loose bound, not the 5 s: the lease is 3 s and the takeover took 1.6–3.2 s here at load
        # 4–7, but this 2-core box is shared and a timed assertion near the figure would fail under load for
        # no fault of the hub. bench/failover.py measures it (median of 5); the test prints each run's.
        assert takeover < TAKEOVER_LIMIT_S
        assert {h: n for h, n in alerts.items() if n > 1} == {}
        check = await _until_mqtt_ok(pair.b)
        assert check["ok"] is True, f"{check}; /healthz: {pair.b.health()}"
        await asyncio.sleep(1)
        counts = Counter(webhook.keys())
        assert {k: n for k, n in counts.items() if k in sent_at_kill and n > 1} == {}
        assert set(counts) <= {r.key for r in outbox(ha_database)}
    finally:
        for device in devices:
            await device.close()
        pair.stop()
