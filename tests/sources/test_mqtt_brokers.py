"""The MQTT source on either protocol version, and on a list of brokers (the nodes of one cluster)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import pytest
from gmqtt.mqtt.constants import MQTTv311

from hub.sources.errors import SourceError
from hub.sources.mqtt import MqttSource
from tests.services.mosquitto import Broker, free_port, start_mosquitto
from tests.services.nats import NatsCluster
from tests.sources.mqtt_clients import publish, take


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt3.1.1"])
async def test_messages_arrive_intact_and_only_durable_ones_are_acknowledged(
    mosquitto: Broker, mqtt5: bool
) -> None:
    """A 3.1.1 PUBLISH has no properties field: topic, payload and packet id must come out right on both."""
    client_id = f"hub-{uuid.uuid4().hex[:6]}"
    root = f"test-{client_id}"
    # Payload sizes around the one- and two-byte remaining-length boundaries, and a large one.
    sent = {
        f"{root}/m{n}": bytes(range(256)) * (n // 256) + bytes(range(n % 256)) for n in (1, 100, 130, 20_000)
    }
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id, mqtt5=mqtt5):
        pass  # the persistent session now exists, with its subscription
    await publish(mosquitto, list(sent.items()), version=MQTTv311)
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id, mqtt5=mqtt5) as source:
        got = await take(source, len(sent))
        assert {d.message.topic: d.message.payload for d in got} == sent
        durable = [d for d in got if d.message.topic.endswith(("/m1", "/m130"))]
        for d in durable:
            d.on_durable()
        await asyncio.sleep(0.3)
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id, mqtt5=mqtt5) as source:
        again = await take(source, 2)
        assert {d.message.topic: d.message.payload for d in again} == {
            t: p for t, p in sent.items() if t.endswith(("/m100", "/m20000"))
        }
        for d in again:
            d.on_durable()
        await asyncio.sleep(0.3)
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id, mqtt5=mqtt5) as source:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(take(source, 1), 1.0)


async def test_the_first_broker_of_the_list_that_answers_is_used(mosquitto: Broker) -> None:
    root = f"test-{uuid.uuid4().hex[:6]}"
    down = f"mqtt://127.0.0.1:{free_port()}"
    async with MqttSource([down, mosquitto.url], [f"{root}/#"], client_id=f"hub-{root}") as source:
        await asyncio.wait_for(source.subscribed.wait(), 10)
        await publish(mosquitto, [(f"{root}/x", b"1")], version=MQTTv311)
        (got,) = await take(source, 1)
        assert got.message.payload == b"1"
        got.on_durable()


async def test_no_broker_of_the_list_answering_is_a_clear_error() -> None:
    ports = [free_port(), free_port()]
    source = MqttSource([f"mqtt://127.0.0.1:{p}" for p in ports], ["#"], connect_timeout_s=1.0)
    with pytest.raises(SourceError, match=r"cannot connect to any MQTT broker; the last, 127\.0\.0\.1:\d+"):
        async with source:
            pass


async def test_a_lost_broker_is_replaced_by_the_next_of_the_list(tmp_path: Path) -> None:
    first = start_mosquitto(tmp_path / "a")
    second = start_mosquitto(tmp_path / "b")
    root = f"test-{uuid.uuid4().hex[:6]}"
    try:
        source = MqttSource(
            [first.url, second.url], [f"{root}/#"], client_id=f"hub-{root}", reconnect_max_s=1.0
        )
        async with source:
            await asyncio.wait_for(source.subscribed.wait(), 10)
            await publish(first, [(f"{root}/before", b"a")], version=MQTTv311)
            (before,) = await take(source, 1)
            before.on_durable()
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
            for _ in range(300):  # until the source is on the second broker
                if source.broker == f"127.0.0.1:{second.port}" and source.connected.is_set():
                    break
                await asyncio.sleep(0.05)
            assert source.broker == f"127.0.0.1:{second.port}"
            # The second broker has no session: the source subscribes again.
            await asyncio.wait_for(source.subscribed.wait(), 10)
            await publish(second, [(f"{root}/after", b"b")], version=MQTTv311)
            (after,) = await take(source, 1)
            assert (after.message.topic, after.message.payload) == (f"{root}/after", b"b")
            after.on_durable()
    finally:
        for broker in (first, second):
            if broker.process.poll() is None:
                broker.process.terminate()
                broker.process.wait(10)


async def test_a_subscription_the_broker_refuses_is_named_and_asked_for_again(tmp_path: Path) -> None:
    # NATS refuses a filter whose max_ack_pending would take the session's sum past 65535: with 40,000 per
    # filter, the second of two. (The same refusal comes while a cluster has no leader for its stream.)
    with NatsCluster(tmp_path / "nats", size=1, max_ack_pending=40_000) as nats:
        node = nats.nodes[0]
        assert node.process is not None
        root = f"test-{uuid.uuid4().hex[:6]}"
        granted, refused = f"{root}/granted", f"{root}/refused"
        async with MqttSource(nats.urls, [granted, refused], client_id=f"hub-{root}", mqtt5=False) as source:
            await asyncio.wait_for(source.subscribed.wait(), 30)
            assert source.refused == {refused}
            # Asked for again, with backoff (1 s, 2 s, …): the broker says no each time.
            deadline = asyncio.get_running_loop().time() + 20
            while source.refusals < 3:
                assert asyncio.get_running_loop().time() < deadline, (
                    "the refused filter was not asked for again"
                )
                await asyncio.sleep(0.2)
            assert source.refused == {refused}
            # The granted one works meanwhile.
            await publish(
                Broker("127.0.0.1", node.mqtt_port, node.process), [(granted, b"1")], version=MQTTv311
            )
            (got,) = await take(source, 1)
            assert got.message.topic == granted
