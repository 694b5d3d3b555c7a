"""A small gmqtt client for playing a device against the generated broker."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv311
from gmqtt.storage import PersistentStorage


class DeviceClient:
    """One MQTT 3.1.1 connection (as cheap devices speak it) that records what it receives."""

    def __init__(self, username: str = "", password: str = "", *, tls: ssl.SSLContext | None = None) -> None:
        self.inflight = PersistentStorage()  # gmqtt keeps unacknowledged QoS 1 publishes here
        self.client = gmqtt.Client(f"test-{uuid.uuid4().hex[:8]}", persistent_storage=self.inflight)
        self.client.set_config({"reconnect_retries": 0})
        if username:
            self.client.set_auth_credentials(username, password or None)
        self.tls = tls
        self.received: list[tuple[str, bytes]] = []
        self.subacks: list[tuple[int, ...]] = []
        self._suback = asyncio.Event()
        self.got_message = asyncio.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        self.received.append((topic, payload))
        self.got_message.set()
        return 0

    def _on_subscribe(self, client: Any, mid: int, qos: tuple[int, ...], properties: Any) -> None:
        self.subacks.append(tuple(qos))
        self._suback.set()

    async def connect(self, port: int) -> None:
        """Connect to 127.0.0.1:`port`; raises gmqtt's MQTTConnectError if the broker refuses."""
        await asyncio.wait_for(
            self.client.connect("127.0.0.1", port, ssl=self.tls or False, version=MQTTv311, keepalive=30), 20
        )

    async def publish(self, topic: str, payload: str) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK (a denied publish is acknowledged too)."""
        self.client.publish(topic, payload, qos=1)
        await asyncio.wait_for(self.inflight.wait_empty(), 20)

    async def subscribe(self, topic: str) -> tuple[int, ...]:
        """Subscribe with QoS 1; returns the SUBACK's return codes (0x80 = refused)."""
        self._suback.clear()
        self.client.subscribe(topic, qos=1)
        await asyncio.wait_for(self._suback.wait(), 20)
        return self.subacks[-1]

    async def disconnect(self) -> None:
        """Disconnect cleanly."""
        if self.client.is_connected:
            await self.client.disconnect()
