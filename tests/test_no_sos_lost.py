"""No SOS is ever lost: SIGKILL the hub again and again while SOS messages flow through real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import gmqtt
import pytest

from tests.hubproc import HubProcess, cli, sos_site, write_config
from tests.services.mosquitto import Broker, free_port

HOMES = 300


@pytest.mark.slow
async def test_every_accepted_sos_becomes_an_alert_despite_sigkills(
    mosquitto: Broker, tmp_path: Path
) -> None:
    port = free_port()
    config = write_config(
        tmp_path / "hub.toml",
        data_dir=tmp_path / "data",
        broker_url=mosquitto.url,
        http_port=port,
        client_id=f"hub-kill-{uuid.uuid4().hex[:6]}",
    )
    site = tmp_path / "site.yaml"
    site.write_text(sos_site(HOMES), encoding="utf-8")
    cli(config, "load", str(site))
    hub = HubProcess(config, port, tmp_path / "hub.log")
    hub.start()
    hub.wait_ready()

    pub = gmqtt.Client(f"sos-pub-{uuid.uuid4().hex[:6]}")
    await pub.connect(mosquitto.host, mosquitto.port)
    kills = 0
    try:
        for i in range(HOMES):
            # SOS plus everyday traffic around it, so the kills land in the middle of busy batches.
            pub.publish(
                f"zigbee2mqtt/h{i:04d}_sos", json.dumps({"action": "emergency", "linkquality": 90}), qos=1
            )
            pub.publish(f"zigbee2mqtt/h{i:04d}_sos", json.dumps({"action": ""}), qos=1)
            for k in range(20):
                pub.publish(
                    f"zigbee2mqtt/h{(i + k) % HOMES:04d}_motion", json.dumps({"occupancy": k % 2 == 0}), qos=1
                )
            await asyncio.sleep(0.01)
            if i % 60 == 30:
                hub.kill()
                kills += 1
                await asyncio.sleep(0.2)  # messages keep arriving while the hub is dead
                hub.start()
                await asyncio.to_thread(hub.wait_ready)
        deadline = time.monotonic() + 30
        # gmqtt offers no event for 'every publish acknowledged'; poll its in-flight store.
        while pub._persistent_storage.get_all() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert not pub._persistent_storage.get_all(), "the broker did not accept every SOS"
    finally:
        await pub.disconnect()
    assert kills >= 4

    hub.kill()  # one last kill right after the last publish
    hub.start()
    try:
        await asyncio.to_thread(hub.wait_ready)
        deadline = time.monotonic() + 60
        homes_with_sos: set[str] = set()
        while time.monotonic() < deadline:
            alerts = hub.get("/api/v1/alerts?limit=5000")
            homes_with_sos = {a["home"] for a in alerts if a["kind"] == "sos"}
            if len(homes_with_sos) == HOMES and hub.get("/healthz")["pending"] == 0:
                break
            await asyncio.sleep(0.5)
    finally:
        hub.stop()
    missing = sorted({f"H{i:04d}" for i in range(HOMES)} - homes_with_sos)
    assert missing == [], f"SOS lost for {len(missing)} homes: {missing[:10]}"
    # And the CLI sees the same alerts, as JSON with the documented fields.
    listed = json.loads(cli(config, "alerts", "list", "--json", "--limit", "5000"))
    assert {a["home"] for a in listed if a["kind"] == "sos"} == homes_with_sos
    assert {"id", "home", "kind", "state", "opened_at"} <= set(listed[0])
