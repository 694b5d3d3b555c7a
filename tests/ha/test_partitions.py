"""Partitioned instances: two hub processes on one PostgreSQL register and one real Mosquitto, four
partitions, two each. The broker routes each device's messages to the session of its home's partition, so
each SOS becomes an alert in the instance that owns the home; when one instance is SIGKILLed the other takes
its partitions (and their queued messages) once the leases run out; `partitions move` hands one over; no SOS
is lost on the way."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from hub.cluster import partition_of
from tests.ha.conftest import Pair, SosPublisher, Webhook, make_pair
from tests.hubproc import HubProcess, cli
from tests.services.mosquitto import Broker

HOMES = 40
PARTITIONS = 4
# A safety net, not a speed claim: the lease is 3 s.
TAKEOVER_LIMIT_S = 15.0


def _cluster(prefer: list[int]) -> str:
    return f"partitions = {PARTITIONS}\nprefer = {prefer}\n"


def _owned(hub: HubProcess) -> list[int] | None:
    health = hub.health()
    if health is None or "cluster" not in health:
        return None
    return list(health["cluster"]["partitions"])


async def _until_owned(hub: HubProcess, partitions: list[int], limit: float = 60) -> float:
    """Until `hub` says it owns exactly `partitions` (and its MQTT sessions are up); the seconds it took."""
    start = time.monotonic()
    while time.monotonic() < start + limit:
        health = await asyncio.to_thread(hub.health)
        if health and health["cluster"]["partitions"] == partitions and health.get("mqtt_connected"):
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"{hub.log.name}: owns {_owned(hub)}, not {partitions}; {hub.log.read_text()[-3000:]}"
    )


def _sos_opened(hub: HubProcess) -> int:
    """SOS alerts this process opened (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{hub.http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    found = re.search(r'^hub_alerts_opened_total\{kind="sos"\} ([0-9.]+)$', text, re.M)
    return 0 if found is None else int(float(found.group(1)))


async def _sos_homes(hub: HubProcess, expected: int, limit: float = 60) -> set[str]:
    """The homes with an SOS alert, once there are `expected` of them (or after `limit` s)."""
    deadline = time.monotonic() + limit
    homes: set[str] = set()
    while time.monotonic() < deadline:
        alerts = await asyncio.to_thread(hub.get, "/api/v1/alerts?limit=5000")
        homes = {a["home"] for a in alerts if a["kind"] == "sos"}
        if len(homes) >= expected:
            break
        await asyncio.sleep(0.5)
    return homes


def _homes_of(partitions: set[int], homes: range) -> set[str]:
    return {f"H{i:04d}" for i in homes if partition_of(f"H{i:04d}", PARTITIONS) in partitions}


@pytest.mark.slow
async def test_two_instances_split_four_partitions_take_over_a_dead_ones_and_move_one_losing_nothing(
    mosquitto: Broker, ha_database: str, webhook: Webhook, tmp_path: Path
) -> None:
    pair: Pair = make_pair(
        tmp_path,
        mosquitto,
        ha_database,
        webhook,
        HOMES,
        cluster_a=_cluster([0, 1]),
        cluster_b=_cluster([2, 3]),
        own_data_dirs=True,
    )
    assert {partition_of(f"H{i:04d}", PARTITIONS) for i in range(HOMES)} == {0, 1, 2, 3}
    try:
        pair.a.start()
        pair.b.start()
        await _until_owned(pair.a, [0, 1])
        await _until_owned(pair.b, [2, 3])
        listing = json.loads(cli(pair.a.config, "partitions", "list", "--json", env=pair.a.env))
        assert [(p["partition"], p["owner"]) for p in listing["partitions"]] == [
            (0, "hub-a"),
            (1, "hub-a"),
            (2, "hub-b"),
            (3, "hub-b"),
        ]
        assert sum(p["homes"] for p in listing["partitions"]) == HOMES
        api = await asyncio.to_thread(pair.b.get, "/api/v1/partitions")
        assert [p["owner"] for p in api["partitions"]] == ["hub-a", "hub-a", "hub-b", "hub-b"]

        async with SosPublisher(mosquitto) as pub:
            # 1. Homes in all four partitions: each SOS becomes an alert in the instance that owns the home.
            first = range(0, 16)
            for home in first:
                pub.press(home, HOMES)
                await asyncio.sleep(0.02)
            assert await pub.all_accepted()
            assert len(await _sos_homes(pair.a, len(first))) == len(first)
            assert _sos_opened(pair.a) == len(_homes_of({0, 1}, first))
            assert _sos_opened(pair.b) == len(_homes_of({2, 3}, first))

            # 2. SIGKILL b: a owns all four within the lease time; what b's sessions queued is not lost.
            pair.b.kill()
            killed = time.monotonic()
            second = range(16, 28)
            for home in second:
                pub.press(home, HOMES)
                await asyncio.sleep(0.02)
            await _until_owned(pair.a, [0, 1, 2, 3], TAKEOVER_LIMIT_S)
            takeover = time.monotonic() - killed
            print(f"partitions 2, 3 taken over {takeover:.2f} s after the SIGKILL")
            assert await pub.all_accepted()
            homes = await _sos_homes(pair.a, 28)
            assert sorted(_homes_of({0, 1, 2, 3}, range(28)) - homes) == []

            # 3. b comes back and gets its preferred partitions back; then partition 1 is moved to it while
            #    SOS traffic flows: the owner gives it up after its last durable batch, b takes it.
            pair.b.start()
            await _until_owned(pair.b, [2, 3])
            await _until_owned(pair.a, [0, 1])
            out = cli(pair.a.config, "partitions", "move", "1", "--to", "hub-b", env=pair.a.env)
            assert "hub-b" in out
            third = range(28, HOMES)
            for home in third:
                pub.press(home, HOMES)
                await asyncio.sleep(0.05)
            await _until_owned(pair.b, [1, 2, 3])
            await _until_owned(pair.a, [0])
            assert await pub.all_accepted()
        homes = await _sos_homes(pair.a, HOMES)
        missing = sorted({f"H{i:04d}" for i in range(HOMES)} - homes)
        assert missing == [], f"SOS lost: {missing}"
        alerts = await asyncio.to_thread(pair.a.get, "/api/v1/alerts?limit=5000")
        sos = [a["home"] for a in alerts if a["kind"] == "sos"]
        assert len(sos) == len(set(sos)) == HOMES  # one alert per pressed home, none opened twice
        listing = json.loads(cli(pair.a.config, "partitions", "list", "--json", env=pair.a.env))
        assert [p["owner"] for p in listing["partitions"]] == ["hub-a", "hub-b", "hub-b", "hub-b"]
        assert listing["partitions"][1]["assigned_to"] == "hub-b"
    finally:
        pair.stop()
