"""`eldercare-hub broker-config` against a real Mosquitto started with what it generates, and the real hub.

The site (tests/site_fixture.py): H001 has two Zigbee devices (bridge user z2m-H001), a Tasmota water meter
(user H001-water) and a native health monitor (no credentials issued: it must not get in); H002 has one
Zigbee SOS button (bridge user z2m-H002).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gmqtt
import pytest

from hub.app import RunningHub, run_hub
from hub.config import load_config
from hub.ingest.quarantine import count_quarantine
from hub.models import Signal
from tests.deploy.broker_process import running_broker
from tests.deploy.certs import make_ca_and_server
from tests.deploy.mqtt_client import DeviceClient
from tests.services.mosquitto import free_port
from tests.site_fixture import make_site

HUB_PASSWORD = "hub-pw-" + "x" * 20


@dataclass
class Deployment:
    """The generated broker, running, and the credentials the installer was given."""

    root: Path
    config: Path
    port: int
    tls_port: int
    cafile: Path
    passwords: dict[str, str]  # username → password
    broker_config_output: str

    def tls(self, cafile: Path | None = None) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(cafile or self.cafile))


def _cli(config: Path, *args: str) -> str:
    env = {**os.environ, "HUB_MQTT_PASSWORD": HUB_PASSWORD}
    run = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deploy")
    make_site(root)
    certs = make_ca_and_server(root / "certs")
    port, tls_port = free_port(), free_port()
    config = root / "hub.toml"
    config.write_text(
        f'data_dir = "{root}"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nusername = "hub"\nclient_id = "hub-deploy-test"\n'
        f"[http]\nport = {free_port()}\n"
        f'[broker]\nhost = "127.0.0.1"\nport = {port}\nbind = "127.0.0.1"\ntls_port = {tls_port}\n'
        f'tls_bind = "127.0.0.1"\ncafile = "{certs["cafile"]}"\ncertfile = "{certs["certfile"]}"\n'
        f'keyfile = "{certs["keyfile"]}"\npersistence_dir = "{root / "mosquitto-data"}"\n',
        encoding="utf-8",
    )
    (root / "mosquitto-data").mkdir()
    passwords = {}
    for device in ("H001-water", "H001-sos", "H002-sos"):
        sheet = json.loads(_cli(config, "device-credentials", device, "--json"))
        assert sheet["host"] == "127.0.0.1" and sheet["port"] == tls_port and sheet["tls"] is True
        passwords[sheet["username"]] = sheet["password"]
    out = root / "broker"
    output = _cli(config, "broker-config", "--out", str(out))
    with running_broker(out, [port, tls_port]):
        yield Deployment(root, config, port, tls_port, certs["cafile"], passwords, output)


@pytest.fixture
async def hub(deployment: Deployment) -> AsyncIterator[RunningHub]:
    config = load_config(deployment.config, env={"HUB_MQTT_PASSWORD": HUB_PASSWORD})
    started: asyncio.Future[RunningHub] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_hub(config, started=started))
    waiters: set[asyncio.Future[Any]] = {task, started}
    done, _ = await asyncio.wait(waiters, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    running = started.result()
    await asyncio.wait_for(_connected(running), 30)
    yield running
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _connected(running: RunningHub) -> None:
    # The source's connected flag is not on RunningHub; /healthz tells it.
    while True:
        try:
            body = await asyncio.to_thread(
                lambda: json.load(urllib.request.urlopen(f"{running.http_url}/healthz", timeout=2))
            )
            if body.get("mqtt_connected"):
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)


async def _readings(running: RunningHub, home: str, signal: Signal | None) -> list[Any]:
    now = datetime.now(UTC)
    return await running.store.query(home, signal, now - timedelta(hours=1), now + timedelta(hours=1))


async def _eventually_readings(
    running: RunningHub, home: str, signal: Signal, within_s: float = 30
) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        rows = await _readings(running, home, signal)
        if rows or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.1)


def test_generated_files_hold_every_issued_principal_and_no_anonymous_access(deployment: Deployment) -> None:
    out = deployment.root / "broker"
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf and "persistence true" in conf
    assert (out / "conf.d" / "hub-queues.conf").read_text() == (
        Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "hub-queues.conf"
    ).read_text()
    users = [line.split(":", 1)[0] for line in (out / "passwd").read_text().splitlines()]
    assert sorted(users) == ["H001-water", "hub", "z2m-H001", "z2m-H002"]
    # The health monitor got no password yet: it is named as waiting, and it is not in the password file.
    assert "H001-health" in deployment.broker_config_output


async def test_devices_reach_the_hub_and_forged_topics_do_not(
    deployment: Deployment, hub: RunningHub
) -> None:
    meter = DeviceClient("H001-water", deployment.passwords["H001-water"], tls=deployment.tls())
    bridge = DeviceClient("z2m-H001", deployment.passwords["z2m-H001"])
    await meter.connect(deployment.tls_port)  # over TLS, as the credentials sheet says
    await bridge.connect(deployment.port)
    try:
        await meter.publish("tele/h001_water/SENSOR", json.dumps({"COUNTER": {"C1": 7}}))
        # H001's bridge tries H002's SOS button and H001's Tasmota meter: both are someone else's topics.
        await bridge.publish("zigbee2mqtt/h002_sos", json.dumps({"action": "emergency", "linkquality": 90}))
        await bridge.publish("tele/h001_water/SENSOR", json.dumps({"COUNTER": {"C1": 999}}))
        # Then a message of its own: once the hub has it, anything sent before it on this connection
        # would have reached the hub before it.
        await bridge.publish("zigbee2mqtt/h001_motion", json.dumps({"occupancy": True, "linkquality": 60}))
    finally:
        await meter.disconnect()
        await bridge.disconnect()

    assert [r.value for r in await _eventually_readings(hub, "H001", Signal.MOTION)] == [1.0]
    assert [r.value for r in await _eventually_readings(hub, "H001", Signal.WATER_TOTAL)] == [7.0]
    assert await _readings(hub, "H002", None) == []
    with hub.sessions() as session:
        assert count_quarantine(session) == 0
    assert hub.pipeline.failed is None


async def test_a_device_cannot_read_other_devices_messages(deployment: Deployment) -> None:
    snooper = DeviceClient("H001-water", deployment.passwords["H001-water"])
    reader = DeviceClient("hub", HUB_PASSWORD)  # the hub's user may read device topics: the control
    sender = DeviceClient("z2m-H002", deployment.passwords["z2m-H002"])
    for client in (snooper, reader, sender):
        await client.connect(deployment.port)
    try:
        # Mosquitto 2.0 grants the subscription and checks read access per message on delivery.
        await snooper.subscribe("#")
        await snooper.subscribe("zigbee2mqtt/#")
        assert await reader.subscribe("zigbee2mqtt/#") == (1,)
        await sender.publish("zigbee2mqtt/h002_sos", json.dumps({"action": "emergency"}))
        await asyncio.wait_for(reader.got_message.wait(), 20)
        assert [topic for topic, _ in reader.received] == ["zigbee2mqtt/h002_sos"]
        # A round trip on the snooper's own connection: whatever the broker had sent it arrives before this.
        await snooper.publish("tele/h001_water/STATE", "{}")
        assert snooper.received == []
    finally:
        for client in (snooper, reader, sender):
            await client.disconnect()


@pytest.mark.parametrize(
    ("username", "password"),
    [("", ""), ("H001-water", "wrong"), ("H001-health", "anything"), ("z2m-H003", "anything")],
    ids=["anonymous", "wrong-password", "no-credentials-issued", "unknown-user"],
)
async def test_who_has_no_valid_credentials_cannot_connect(
    deployment: Deployment, username: str, password: str
) -> None:
    with pytest.raises(gmqtt.mqtt.handler.MQTTConnectError):
        await DeviceClient(username, password).connect(deployment.port)
    ok = DeviceClient("H001-water", deployment.passwords["H001-water"])
    await ok.connect(deployment.port)  # the control: the right password gets in
    await ok.disconnect()


async def test_tls_is_checked_against_the_platform_ca(deployment: Deployment, tmp_path: Path) -> None:
    other_ca = make_ca_and_server(tmp_path / "other", "some other CA")["cafile"]
    with pytest.raises(ssl.SSLCertVerificationError):
        await DeviceClient(
            "H001-water", deployment.passwords["H001-water"], tls=deployment.tls(other_ca)
        ).connect(deployment.tls_port)


def test_issuing_again_needs_rotate_so_a_bridge_is_not_cut_off(deployment: Deployment) -> None:
    # H001-motion publishes through the bridge z2m-H001, which already has a password (issued for H001-sos).
    argv = [
        sys.executable,
        "-m",
        "hub.cli",
        "--config",
        str(deployment.config),
        "device-credentials",
        "H001-motion",
    ]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "z2m-H001 already has a broker password" in run.stderr and "--rotate" in run.stderr


async def test_the_hubs_self_check_passes_the_generated_acl(hub: RunningHub) -> None:
    # The broker ACL lets the hub publish (and read) its own canary, so the self-check can come back.
    from hub.devices.canary import CANARY_HOME

    rows = await _eventually_readings(hub, CANARY_HOME, Signal.AVAILABILITY)
    assert rows, "the canary never came back through the broker"
