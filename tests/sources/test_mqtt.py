"""The MQTT source against real Mosquitto: acknowledgement is held until the pipeline says durable."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import gmqtt
import pytest

from hub.sources.errors import SourceError
from hub.sources.mqtt import SUBSCRIBE_CHUNK, MqttSource, parse_broker_url
from tests.services.mosquitto import Broker
from tests.sources.mqtt_clients import publish, take


async def test_unacknowledged_messages_come_back_after_reconnect(mosquitto: Broker) -> None:
    client_id = f"hub-{uuid.uuid4().hex[:6]}"
    root = f"test-{client_id}"  # the broker is shared by the session: other tests leave retained messages
    topics = [f"{root}/a", f"{root}/b", f"{root}/c"]
    filters = [f"{root}/#"]
    async with MqttSource(mosquitto.url, filters, client_id=client_id):
        pass  # the persistent session now exists, with its subscription
    await publish(mosquitto, [(t, b"{}") for t in topics])

    async with MqttSource(mosquitto.url, filters, client_id=client_id) as source:
        first = await take(source, 3)
        assert sorted(d.message.topic for d in first) == topics
        acked = next(d for d in first if d.message.topic == topics[0])
        acked.on_durable()  # only this one became durable before the "crash"
        await asyncio.sleep(0.2)

    async with MqttSource(mosquitto.url, filters, client_id=client_id) as source:
        again = await take(source, 2)
        assert sorted(d.message.topic for d in again) == topics[1:]
        for d in again:
            d.on_durable()
        await asyncio.sleep(0.2)

    async with MqttSource(mosquitto.url, filters, client_id=client_id) as source:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(take(source, 1), 1.0)


async def test_messages_published_while_the_hub_is_away_are_kept(mosquitto: Broker) -> None:
    client_id = f"hub-{uuid.uuid4().hex[:6]}"
    root = f"test-{client_id}"
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id):
        pass
    # More than Mosquitto's default queue of 1000: the hub's broker config must keep them all.
    await publish(mosquitto, [(f"{root}/m{i}/SENSOR", b'{"COUNTER":{"C1":1}}') for i in range(1500)])
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id) as source:
        got = await take(source, 1500)
        for d in got:
            d.on_durable()
    assert len({d.message.topic for d in got}) == 1500


async def test_unreachable_broker_is_a_clear_error() -> None:
    source = MqttSource("mqtt://127.0.0.1:1", ["#"], connect_timeout_s=1.0)
    with pytest.raises(SourceError, match=r"cannot connect to MQTT broker 127\.0\.0\.1:1"):
        async with source:
            pass


def test_broker_url_is_validated() -> None:
    assert parse_broker_url("mqtts://broker.example:8883") == ("broker.example", 8883, True)
    with pytest.raises(SourceError, match="mqtt://host:1883"):
        parse_broker_url("http://x")


async def test_the_source_reconnects_and_resubscribes_after_a_broker_restart(tmp_path: Path) -> None:
    from tests.services.mosquitto import start_mosquitto

    broker = start_mosquitto(tmp_path / "broker")
    root = f"test-{uuid.uuid4().hex[:6]}"
    try:
        source = MqttSource(broker.url, [f"{root}/#"], client_id=f"hub-{root}", reconnect_max_s=1.0)
        async with source:
            await publish(broker, [(f"{root}/before", b"1")])
            (before,) = await take(source, 1)
            before.on_durable()
            broker.process.terminate()  # no persistence: the restarted broker has forgotten our session
            broker.process.wait(10)
            await asyncio.sleep(0.5)
            broker = start_mosquitto(tmp_path / "broker", port=broker.port)
            await asyncio.wait_for(source.connected.wait(), 15)
            await asyncio.sleep(0.3)  # the SUBSCRIBE goes out right after CONNACK
            await publish(broker, [(f"{root}/after", b"2")])
            (after,) = await take(source, 1)
            assert after.message.topic == f"{root}/after"
            after.on_durable()
    finally:
        broker.process.terminate()
        broker.process.wait(10)


async def test_deliveries_say_when_the_broker_may_have_held_them(mosquitto: Broker) -> None:
    """`RawMessage.held`: the window a device time may come from although it is older than receipt."""
    client_id = f"hub-{uuid.uuid4().hex[:6]}"
    root = f"test-{client_id}"
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id):
        pass  # the persistent session now exists
    await publish(mosquitto, [(f"{root}/queued", b"{}")])
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id, session_expiry_s=3600) as source:
        (queued,) = await take(source, 1)
        held = queued.message.held
        assert held is not None
        # This process never saw the previous connection: the broker kept messages for at most the expiry.
        assert held[1] - held[0] == timedelta(hours=1)
        assert held[1] <= queued.message.received_at
        queued.on_durable()


async def test_a_retained_message_may_be_of_any_age(mosquitto: Broker) -> None:
    client_id = f"hub-{uuid.uuid4().hex[:6]}"
    root = f"test-{client_id}"
    pub = gmqtt.Client(f"pub-{uuid.uuid4().hex[:6]}")
    await pub.connect(mosquitto.host, mosquitto.port)
    pub.publish(f"{root}/state", b"{}", qos=1, retain=True)
    await asyncio.sleep(0.3)
    await pub.disconnect()
    async with MqttSource(mosquitto.url, [f"{root}/#"], client_id=client_id) as source:
        (retained,) = await take(source, 1)
        held = retained.message.held
        assert held is not None and held[0].year == 1
        retained.on_durable()


async def test_a_filter_added_while_connected_is_subscribed_and_kept_in_the_session(
    mosquitto: Broker,
) -> None:
    """A device bound after the start (partitioned instances subscribe per device): its messages arrive at
    once, and are queued for the session while the hub is away."""
    client_id = f"hub-{uuid.uuid4().hex[:6]}"
    root = f"test-{client_id}"
    async with MqttSource(mosquitto.url, [f"{root}/old"], client_id=client_id) as source:
        await asyncio.wait_for(source.connected.wait(), 10)
        assert source.subscribe([f"{root}/new", f"{root}/old"]) == [f"{root}/new"]
        await asyncio.sleep(0.3)  # the SUBACK
        await publish(mosquitto, [(f"{root}/new", b"1"), (f"{root}/other", b"x")])
        [first] = await take(source, 1)
        assert first.message.topic == f"{root}/new"
        first.on_durable()
        await asyncio.sleep(0.2)
    await publish(mosquitto, [(f"{root}/new", b"2")])
    async with MqttSource(mosquitto.url, [f"{root}/old"], client_id=client_id) as source:
        [queued] = await take(source, 1)
        assert (queued.message.topic, queued.message.payload) == (f"{root}/new", b"2")
        queued.on_durable()
        await asyncio.sleep(0.2)


async def test_a_session_with_hundreds_of_device_filters_subscribes_them_all(mosquitto: Broker) -> None:
    """Partitioned instances subscribe per device, thousands of filters a session; they go out many to a
    SUBSCRIBE packet. Every filter is subscribed once the source says so, the last one included."""
    client_id = f"hub-{uuid.uuid4().hex[:6]}"
    root = f"test-{client_id}"
    filters = [f"{root}/d{i}/#" for i in range(2 * SUBSCRIBE_CHUNK + 7)]
    async with MqttSource(mosquitto.url, filters, client_id=client_id) as source:
        await asyncio.wait_for(source.subscribed.wait(), 10)
        await publish(
            mosquitto, [(f"{root}/d{i}/SENSOR", str(i).encode()) for i in (0, 150, len(filters) - 1)]
        )
        got = await take(source, 3)
        for d in got:
            d.on_durable()
    assert sorted(d.message.payload for d in got) == [b"0", b"150", str(len(filters) - 1).encode()]
