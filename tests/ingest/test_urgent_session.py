"""The urgent session against real Mosquitto: an SOS queued behind a routine backlog in the broker is alerted
before that backlog is drained, becomes one alert although the routine session receives it too, and an
unregistered device's message is still received."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import gmqtt
from sqlalchemy import select

from hub import metrics
from hub.app import RunningHub, run_hub
from hub.config import Config, parse_config
from hub.register.models import Alert, QuarantinedMessage
from hub.sources.delivery import Delivery
from tests.services.mosquitto import Broker, free_port
from tests.site_fixture import make_site

BACKLOG = 20_000  # routine motion reports queued in the broker before the SOS
SOS_TOPIC = "zigbee2mqtt/h001_sos"
UNKNOWN_TOPIC = "zigbee2mqtt/nobody_sos"  # no device of the register
# A routine message published last: the broker delivers a session's messages in order, so once it is
# durable the routine session has received (and paired) its copy of the SOS.
MARKER = ("zigbee2mqtt/h002_motion", b'{"occupancy":true,"linkquality":41}')


def hub_config(tmp_path: Path, broker: Broker, client_id: str) -> Config:
    """A hub on `broker` with a small receive window, so that the broker holds the backlog, not the hub."""
    return parse_config(
        {
            "data_dir": str(tmp_path),
            "http": {"host": "127.0.0.1", "port": free_port()},
            "mqtt": {"url": broker.url, "client_id": client_id, "receive_maximum": 100},
            "store": {"kind": "sqlite"},
            "health": {"canary_enabled": False},
        }
    )


async def run_until_started(config: Config, **kwargs: Any) -> tuple[asyncio.Task[None], RunningHub]:
    """Start `run_hub` in a task; return it once every broker session is connected."""
    started: asyncio.Future[RunningHub] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_hub(config, started=started, **kwargs))
    done, _ = await asyncio.wait({task, started}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    return task, started.result()


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel the hub and wait until it has flushed and disconnected."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def publish_all(broker: Broker, messages: list[tuple[str, bytes]]) -> None:
    """Publish with QoS 1 and wait until the broker has acknowledged every message."""
    pub = gmqtt.Client(f"urgent-test-pub-{uuid.uuid4().hex[:6]}")
    await pub.connect(broker.host, broker.port)
    try:
        for topic, payload in messages:
            pub.publish(topic, payload, qos=1)
        async with asyncio.timeout(120):  # a guard against a hang, not a measurement
            # gmqtt offers no event for 'every publish acknowledged'; poll its in-flight store.
            while pub._persistent_storage.get_all():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await pub.disconnect()


async def test_an_sos_behind_a_broker_backlog_is_alerted_before_the_backlog_is_drained(
    mosquitto: Broker, tmp_path: Path
) -> None:
    sessions = make_site(tmp_path)
    config = hub_config(tmp_path, mosquitto, f"hub-urgent-{uuid.uuid4().hex[:6]}")
    # First run: both persistent sessions exist and are subscribed, then the hub goes away.
    task, _ = await run_until_started(config)
    await stop(task)

    routine = [
        (
            "zigbee2mqtt/h001_motion",
            json.dumps({"occupancy": i % 2 == 0, "linkquality": 40}).encode(),
        )
        for i in range(BACKLOG)
    ]
    sos = (SOS_TOPIC, b'{"action":"emergency","linkquality":90}')
    unknown = (UNKNOWN_TOPIC, b'{"action":"emergency"}')
    await publish_all(mosquitto, [*routine, unknown, sos, MARKER])

    durable_routine = 0
    routine_at_sos: list[int] = []  # routine messages durable when the SOS became durable
    sos_durable = 0
    marker_durable = asyncio.Event()

    def on_batch_durable(deliveries: list[Delivery]) -> None:
        nonlocal durable_routine, sos_durable
        for d in deliveries:
            if d.message.topic == SOS_TOPIC:
                sos_durable += 1
                routine_at_sos.append(durable_routine)
            elif d.message.topic == MARKER[0]:
                marker_durable.set()
            elif d.message.topic != UNKNOWN_TOPIC:
                durable_routine += 1

    held_before = metrics.REGISTRY.get_sample_value("hub_routine_held_seconds_total") or 0.0
    task, _ = await run_until_started(config, on_batch_durable=on_batch_durable)
    try:
        async with asyncio.timeout(120):  # a guard against a hang, not a measurement
            await marker_durable.wait()
    finally:
        await stop(task)

    # Without its own session the SOS is received only after the backlog ahead of it (the receive window
    # is 100): here it was durable while most of the backlog still waited in the broker.
    assert routine_at_sos, "the SOS never became durable"
    assert routine_at_sos[0] < BACKLOG // 2, routine_at_sos
    # While the SOS was on its way out the routine backlog waited (hub.ingest.gate), and /metrics says so.
    held = (metrics.REGISTRY.get_sample_value("hub_routine_held_seconds_total") or 0.0) - held_before
    assert held > 0
    # Both sessions received it; it was processed once: one alert, raised once (the alert's repeat count
    # would be 2 if the routine session's copy had been processed too).
    assert durable_routine == BACKLOG
    assert sos_durable == 1
    with sessions() as session:
        alerts = session.scalars(select(Alert).where(Alert.kind == "sos")).all()
        assert [(a.device_code, a.count) for a in alerts] == [("H001-sos", 1)]
        # The unregistered device's message was received (on the routine session) and quarantined.
        quarantined = session.scalars(
            select(QuarantinedMessage.topic).where(QuarantinedMessage.topic == UNKNOWN_TOPIC)
        ).all()
        assert quarantined == [UNKNOWN_TOPIC]
