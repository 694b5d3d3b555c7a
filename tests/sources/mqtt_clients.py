"""Test clients shared by the MQTT source tests: a device that publishes, and taking what the source delivers."""

from __future__ import annotations

import asyncio
import uuid

import gmqtt
from gmqtt.mqtt.constants import MQTTv50

from hub.sources.delivery import Delivery
from hub.sources.mqtt import MqttSource
from tests.services.mosquitto import Broker


async def publish(broker: Broker, messages: list[tuple[str, bytes]], *, version: int = MQTTv50) -> None:
    """Publish `messages` with QoS 1 and return once the broker has acknowledged every one."""
    pub = gmqtt.Client(f"pub-{uuid.uuid4().hex[:6]}")
    await pub.connect(broker.host, broker.port, version=version)
    for topic, payload in messages:
        pub.publish(topic, payload, qos=1)
    for _ in range(100):  # until the broker has acknowledged every publish
        if not pub._persistent_storage.get_all():
            break
        await asyncio.sleep(0.05)
    await pub.disconnect()


async def take(source: MqttSource, n: int) -> list[Delivery]:
    """The next `n` deliveries of `source` (10 s each at most)."""
    it = source.__aiter__()
    return [await asyncio.wait_for(it.__anext__(), 10) for _ in range(n)]
