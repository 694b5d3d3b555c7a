"""Why a connection to the broker fails is logged once, plainly: refused, auth, TLS, no MQTT answer."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from gmqtt.mqtt.handler import MQTTConnectError

from hub.sources.errors import SourceError
from hub.sources.mqtt import MqttSource, describe_connect_error
from tests.deploy.broker_process import RUN_AS_ROOT, mosquitto_binary
from tests.services.mosquitto import Broker, free_port, wait_port


async def _fail(source: MqttSource) -> str:
    with pytest.raises(SourceError) as raised:
        async with source:
            pass
    return str(raised.value)


def _failure_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "hub.sources.mqtt" and r.levelno >= logging.ERROR
    ]


async def test_refused_connection_is_named_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    source = MqttSource(f"mqtt://127.0.0.1:{port}", ["#"], connect_timeout_s=2.5)  # several attempts
    error = await _fail(source)
    assert f"nothing listens on 127.0.0.1:{port}" in error
    logs = _failure_logs(caplog)
    assert len(logs) == 1, logs  # once, however many retries
    assert f"127.0.0.1:{port} 上没有 MQTT broker 在监听" in logs[0]


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto that admits only user `hub` with password `right`."""
    port = free_port()
    passwords = tmp_path / "passwd"
    passwords.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), "hub", "right"], check=True)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"{RUN_AS_ROOT}listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        "persistence false\nlog_dest stderr\n"
    )
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield Broker("127.0.0.1", port, proc)
    finally:
        proc.terminate()
        proc.wait(10)


async def test_bad_password_is_named_as_an_auth_failure(
    password_broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    source = MqttSource(
        password_broker.url,
        ["#"],
        username="hub",
        password="wrong",
        client_id="hub-auth",
        connect_timeout_s=2.5,
    )
    error = await _fail(source)
    # Mosquitto answers 135 "not authorized" (MQTT 5) to a wrong password.
    assert "refused the login: bad username/password or not authorised (MQTT reason code 135)" in error
    logs = _failure_logs(caplog)
    assert len(logs) == 1, logs
    assert "用户名或密码错误" in logs[0]
    # The right password connects: the failure reason is cleared.
    good = MqttSource(password_broker.url, ["#"], username="hub", password="right", client_id="hub-auth-ok")
    async with good:
        assert good.connected.is_set() and good.failure is None


async def test_tls_to_a_plain_port_is_named_as_a_tls_failure(quiet_mosquitto: Broker) -> None:
    source = MqttSource(f"mqtts://127.0.0.1:{quiet_mosquitto.port}", ["#"], connect_timeout_s=1.0)
    assert "TLS handshake with broker" in await _fail(source)


async def test_a_port_that_never_answers_mqtt_is_named(caplog: pytest.LogCaptureFixture) -> None:
    # Something accepts TCP and says nothing (a TLS port reached with mqtt://, another service): before, the
    # hub waited for the CONNACK forever and the log only said "lost heartbeat" a minute later.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        source = MqttSource(f"mqtt://127.0.0.1:{port}", ["#"], connect_timeout_s=1.5, connack_timeout_s=0.3)
        error = await asyncio.wait_for(_fail(source), 30)
    assert "accepted TCP but sent no MQTT CONNACK within 0.3 s (a TLS port needs mqtts://)" in error
    assert len(_failure_logs(caplog)) == 1


def test_protocol_version_refusals_are_named() -> None:
    for code in (1, 132):  # MQTT 3.1.1 and MQTT 5 "unsupported protocol version"
        zh, en = describe_connect_error(MQTTConnectError(code), "b", 1883, False)
        assert "protocol version" in en and "协议版本" in zh
