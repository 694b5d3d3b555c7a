"""The MQTT source: QoS 1, persistent session, acknowledgement held until the pipeline says durable.

gmqtt (MQTT 5) is used with ``optimistic_acknowledgement=False``. Its own way of holding the PUBACK
(a task per message that awaits our coroutine) costs two thirds of the throughput, so `_AckHoldingClient`
takes QoS 1 PUBLISH packets straight from gmqtt's packet handler and sends the PUBACK for a packet id only
when the pipeline calls the delivery's `on_durable`. The broker therefore redelivers anything the hub had
not made durable when it died. A PUBACK sent after a reconnect is still right: on session resumption the
broker resends unacknowledged messages with their original packet ids.
Reconnection: the first connection retries with exponential backoff here; after a drop gmqtt reconnects
by itself and we grow its delay the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import gmqtt
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.mqtt.handler import MQTTConnectError

from hub.clock import Clock, SystemClock
from hub.models import RawMessage
from hub.sources.delivery import Delivery
from hub.sources.errors import SourceError

LOGGER = logging.getLogger(__name__)

PUBACK_SUCCESS = 0


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) from mqtt://host:port or mqtts://host:port."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise SourceError(f"broker URL must look like mqtt://host:1883, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


class _AckHoldingClient(gmqtt.Client):  # type: ignore[misc]
    """A gmqtt client whose QoS 1 messages are acknowledged by the pipeline, not on receipt.

    This relies on two internals of gmqtt 0.8 (pinned in pyproject): the handler's
    ``_handle_qos_1_publish_packet(mid, payload, topic, properties)`` hook and ``_send_puback(mid)``.
    tests/sources/test_mqtt.py proves the behaviour against a real broker, so an upgrade that breaks it fails.
    """

    def __init__(self, client_id: str, on_qos1: Any, **kwargs: Any) -> None:
        super().__init__(client_id, clean_session=False, optimistic_acknowledgement=False, **kwargs)
        handler = self._package_handler
        handler._handle_qos_1_publish_packet = on_qos1
        self.send_puback = handler._send_puback


class MqttSource:
    """An async context manager that connects and yields deliveries as an async iterator."""

    def __init__(
        self,
        url: str,
        subscriptions: Sequence[str],
        *,
        client_id: str = "eldercare-hub",
        username: str = "",
        password: str = "",
        session_expiry_s: int = 7 * 24 * 3600,
        keepalive_s: int = 30,
        reconnect_max_s: float = 30.0,
        mqtt5: bool = True,
        clock: Clock | None = None,
        connect_timeout_s: float | None = None,
    ) -> None:
        self._host, self._port, self._tls = parse_broker_url(url)
        self._subscriptions = list(subscriptions)
        self._client_id = client_id
        self._username = username
        self._password = password
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._reconnect_max_s = reconnect_max_s
        self._mqtt5 = mqtt5
        self._clock = clock or SystemClock()
        self._connect_timeout_s = connect_timeout_s
        self._buffer: deque[Delivery] = deque()
        self._ready = asyncio.Event()
        self._client: _AckHoldingClient | None = None
        self._delay = 1.0
        self._subscribed = False
        self.connected = asyncio.Event()

    async def __aenter__(self) -> Self:
        """Connect (retrying with backoff) and subscribe."""
        props: dict[str, Any] = {}
        if self._mqtt5:
            props["session_expiry_interval"] = self._session_expiry_s
            props["receive_maximum"] = 65535
        client = _AckHoldingClient(self._client_id, self._on_qos1, **props)
        client.set_config({"reconnect_retries": -1, "reconnect_delay": 1})
        if self._username:
            client.set_auth_credentials(self._username, self._password or None)
        client.on_message = self._on_message
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        deadline = (
            None
            if self._connect_timeout_s is None
            else asyncio.get_running_loop().time() + (self._connect_timeout_s)
        )
        delay = 0.5
        while True:
            try:
                await client.connect(
                    self._host,
                    self._port,
                    ssl=ssl.create_default_context() if self._tls else False,
                    keepalive=self._keepalive_s,
                    version=MQTTv50 if self._mqtt5 else MQTTv311,
                )
                break
            except (OSError, MQTTConnectError) as exc:
                now = asyncio.get_running_loop().time()
                if deadline is not None and now + delay > deadline:
                    raise SourceError(
                        f"cannot connect to MQTT broker {self._host}:{self._port}: {exc}"
                    ) from exc
                LOGGER.warning(
                    "MQTT broker %s:%s unreachable (%s); retrying in %.1fs",
                    self._host,
                    self._port,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._reconnect_max_s)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Disconnect; unacknowledged messages stay with the broker for the next session."""
        if self._client is not None:
            try:
                await self._client.disconnect()
            except (OSError, ConnectionError) as err:
                LOGGER.info("MQTT disconnect failed: %s", err)
        self.connected.clear()

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Delivery]:
        buffer = self._buffer
        while True:
            while buffer:
                yield buffer.popleft()
            self._ready.clear()
            await self._ready.wait()

    # gmqtt callbacks: wrap and hand over, nothing else.

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, properties: dict[str, Any]) -> None:
        self._delay = 1.0
        client.reconnect_delay = 1
        if not self._subscribed:
            # gmqtt re-subscribes by itself after a reconnect; the persistent session keeps them too.
            for topic in self._subscriptions:
                client.subscribe(topic, qos=1)
            self._subscribed = True
        self.connected.set()
        LOGGER.info("MQTT connected to %s:%s (session present: %s)", self._host, self._port, flags)

    def _on_disconnect(self, client: gmqtt.Client, packet: Any, exc: BaseException | None = None) -> None:
        self.connected.clear()
        self._delay = min(self._delay * 2, self._reconnect_max_s)
        client.reconnect_delay = self._delay
        LOGGER.warning("MQTT connection lost; reconnecting in %.0fs", self._delay)

    def _on_qos1(self, mid: int, payload: bytes, topic: str, properties: dict[str, Any]) -> None:
        client = self._client
        assert client is not None
        message = RawMessage("mqtt", topic, payload, self._clock.now())
        self._buffer.append(Delivery(message, partial(client.send_puback, mid)))
        self._ready.set()

    def _on_message(
        self, client: gmqtt.Client, topic: str, payload: bytes, qos: int, properties: dict[str, Any]
    ) -> None:
        # Only QoS 0 arrives here (QoS 1 goes through _on_qos1; we subscribe with QoS 1, so never QoS 2).
        self._buffer.append(Delivery(RawMessage("mqtt", topic, payload, self._clock.now())))
        self._ready.set()


def new_client_id(prefix: str) -> str:
    """A unique client id for throwaway publishers (simulator, tests)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
