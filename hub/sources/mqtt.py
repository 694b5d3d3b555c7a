"""The MQTT source: QoS 1, persistent session, acknowledgement held until the pipeline says durable.

gmqtt (MQTT 5) is used with ``optimistic_acknowledgement=False``. Its own way of holding the PUBACK
(a task per message that awaits our coroutine) costs two thirds of the throughput, so `_AckHoldingClient`
takes QoS 1 PUBLISH packets straight from gmqtt's packet handler and sends the PUBACK for a packet id only
when the pipeline calls the delivery's `on_durable`. The broker therefore redelivers anything the hub had
not made durable when it died. A packet id belongs to one connection: a broker may number its redeliveries
afresh on the next one (NATS does, when the session moves to another node of the cluster), so an
acknowledgement that becomes due after a reconnect is dropped, and the copy the broker redelivers is
acknowledged instead once durable.
Brokers: a list of URLs (the nodes of one cluster), tried in order. The first connection retries with
exponential backoff here; after a drop gmqtt reconnects by itself, to the next broker of the list, and we
grow its delay the same way. Within a round of the list the next broker is tried at once; the backoff is
between rounds. MQTT 5 or 3.1.1 (NATS speaks only 3.1.1): the session is persistent with either.
A subscription the broker refuses (SUBACK failure) is asked for again, with backoff, for as long as it is
refused, on this connection and the next ones, and `refused` names it for /healthz meanwhile: a clustered
broker refuses one while it cannot create the replicated consumer behind it (no stream leader just after a
node was lost; NATS: over the session's max_ack_pending sum), and a filter refused once and never asked for
again would receive nothing, silently, for the life of the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import struct
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import gmqtt
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.mqtt.handler import MQTTConnectError

from hub.clock import Clock, SystemClock
from hub.models import RawMessage
from hub.sources.delivery import Delivery, drain
from hub.sources.errors import SourceError

LOGGER = logging.getLogger(__name__)

_PUBACK = struct.Struct("!BBH")
# A retained message is the last state someone published, at any time in the past.
_RETAINED_SINCE = datetime.min.replace(tzinfo=UTC)
# Consecutive messages' receipt times differ by at least this much (see MqttSource._now).
_ONE_US = timedelta(microseconds=1)
# Backoff between attempts to subscribe again to a filter the broker refused.
RESUBSCRIBE_FIRST_S = 1.0
RESUBSCRIBE_MAX_S = 30.0


def parse_broker_url(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) from mqtt://host:port or mqtts://host:port."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise SourceError(f"broker URL must look like mqtt://host:1883, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


@dataclass(frozen=True)
class _Broker:
    """One broker of the list: where, and whether over TLS."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> _Broker:
        """From mqtt://host:port or mqtts://host:port."""
        return cls(*parse_broker_url(url))

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What gmqtt's `ssl` argument takes: a default context for TLS, False for plain MQTT."""
        return ssl.create_default_context() if self.tls else False

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


# CONNACK reason codes (MQTT 3.1.1 and 5) → what the operator should check, in Chinese and English.
_AUTH_CODES = frozenset({4, 5, 134, 135, 138, 140})
_VERSION_CODES = frozenset({1, 132})
# How long one connection attempt may wait for the broker's CONNACK: a TLS port reached with mqtt://, or a
# port where something else listens, accepts TCP and then says nothing.
CONNACK_TIMEOUT_S = 10.0
# Topic filters per SUBSCRIBE packet (see MqttSource._subscribe).
SUBSCRIBE_CHUNK = 100


def describe_connect_error(
    exc: BaseException, host: str, port: int, tls: bool, connack_timeout_s: float = CONNACK_TIMEOUT_S
) -> tuple[str, str]:
    """Why a connection attempt failed, plainly, in Chinese and English (refused, auth, version, TLS …)."""
    where = f"{host}:{port}"
    if isinstance(exc, MQTTConnectError):
        code = getattr(exc, "_code", None)
        if code in _AUTH_CODES:
            return (
                f"broker {where} 拒绝登录：用户名或密码错误或无权限（MQTT 原因码 {code}）",
                f"broker {where} refused the login: bad username/password or not authorised (MQTT reason code {code})",
            )
        if code in _VERSION_CODES:
            return (
                f"broker {where} 不支持所用的 MQTT 协议版本（原因码 {code}）",
                f"broker {where} does not accept the MQTT protocol version (reason code {code})",
            )
        return (f"broker {where} 拒绝连接: {exc}", f"broker {where} refused the connection: {exc}")
    if isinstance(exc, ssl.SSLError) or (tls and isinstance(exc, ConnectionResetError)):
        # A plain MQTT port answers a TLS ClientHello by closing the connection.
        return (
            f"与 broker {where} 的 TLS 握手失败（证书？或不是 TLS 端口）: {exc}",
            f"TLS handshake with broker {where} failed (certificate, or not a TLS port?): {exc}",
        )
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"连接被拒绝：{where} 上没有 MQTT broker 在监听",
            f"connection refused: nothing listens on {where}",
        )
    if isinstance(exc, socket.gaierror):
        return (f"无法解析 broker 主机名 {host}: {exc}", f"cannot resolve the broker host {host}: {exc}")
    if isinstance(exc, TimeoutError):
        hint_zh = "（TLS 端口请用 mqtts://）" if not tls else "（端口是否为 TLS 端口？）"
        hint_en = " (a TLS port needs mqtts://)" if not tls else " (is the port a TLS port?)"
        return (
            f"{where} 接受了 TCP 连接，但 {connack_timeout_s:g} 秒内没有 MQTT 应答{hint_zh}",
            f"{where} accepted TCP but sent no MQTT CONNACK within {connack_timeout_s:g} s{hint_en}",
        )
    return (f"无法连接 broker {where}: {exc!r}", f"cannot connect to broker {where}: {exc!r}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """An MQTT variable byte integer at `pos`: (value, position after it)."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


class _AckHoldingClient(gmqtt.Client):
    """A gmqtt client whose QoS 1 messages are acknowledged by the pipeline, not on receipt.

    It takes PUBLISH packets straight from gmqtt's packet handler (its per-packet property parsing and debug
    logging cost a fifth of the ingest time) and sends PUBACKs only when asked, many in one write.
    This relies on two internals of gmqtt 0.8 (pinned in pyproject): the handler's ``_handle_publish_packet``
    dispatch and the connection's protocol ``write_data``. tests/sources/test_mqtt.py and
    tests/test_no_sos_lost.py prove the behaviour against a real broker, so an upgrade that breaks it fails.
    """

    def __init__(
        self,
        client_id: str,
        on_publish: Callable[[int | None, str, bytes, bool], None],
        next_broker: Callable[[], tuple[_Broker, bool]],
        **kwargs: Any,
    ) -> None:
        # clean_session off: with 3.1.1 this is the persistent session; with MQTT 5 it is "clean start" off
        # and the session lives as long as the session expiry interval.
        super().__init__(client_id, clean_session=False, optimistic_acknowledgement=False, **kwargs)
        self._on_publish = on_publish
        self._next_broker = next_broker
        self._package_handler._handle_publish_packet = self._publish_packet

    async def reconnect(self, delay: bool = False) -> None:
        """gmqtt's reconnect, to the next broker of the list (gmqtt itself would retry the one it lost)."""
        # Only when gmqtt will go on to reconnect: it ignores a call while another reconnect is under way.
        if self._allow_reconnect():
            broker, back_off = self._next_broker()
            self._host, self._port = broker.host, broker.port
            self._ssl = broker.ssl_context()
            delay = delay and back_off
        await super().reconnect(delay=delay)

    def _publish_packet(self, cmd: int, raw: bytes) -> None:
        qos = (cmd & 0x06) >> 1
        topic_len = (raw[0] << 8) | raw[1]
        pos = 2 + topic_len
        topic = raw[2:pos].decode("utf-8", errors="replace")
        mid: int | None = None
        if qos:
            mid = (raw[pos] << 8) | raw[pos + 1]
            pos += 2
        # The version of this connection, not the one asked for: gmqtt falls back to 3.1.1 when a broker
        # refuses 5. A 3.1.1 PUBLISH has no properties; with 5, skip them: we ask for no topic aliases and
        # need none of them.
        if self._connection_state.protocol_version >= MQTTv50:
            length, pos = _varint(raw, pos)
            pos += length
        self._on_publish(mid, topic, raw[pos:], bool(cmd & 0x01))

    def send_pubacks(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 packet ids in one write (one syscall instead of one per message)."""
        connection = self._connection
        if connection is None or not mids:
            return
        # PUBACK with remaining length 2: packet id only, which means reason "success" in MQTT 5 and 3.1.1.
        connection._protocol.write_data(b"".join([_PUBACK.pack(0x40, 2, mid) for mid in mids]))


class MqttSource:
    """An async context manager that connects and yields deliveries as an async iterator."""

    def __init__(
        self,
        urls: str | Sequence[str],
        subscriptions: Sequence[str],
        *,
        client_id: str = "eldercare-hub",
        username: str = "",
        password: str = "",
        session_expiry_s: int = 7 * 24 * 3600,
        keepalive_s: int = 30,
        reconnect_max_s: float = 30.0,
        mqtt5: bool = True,
        receive_maximum: int = 10_000,
        clock: Clock | None = None,
        connect_timeout_s: float | None = None,
        connack_timeout_s: float = CONNACK_TIMEOUT_S,
    ) -> None:
        # The brokers, tried in order; `_current` is the one connected to or being tried.
        self._brokers = [_Broker.parse(url) for url in ([urls] if isinstance(urls, str) else urls)]
        if not self._brokers:
            raise SourceError("no MQTT broker URL given")
        self._current = 0
        self._failed_attempts = 0  # since the last successful connection
        self._subscriptions = list(subscriptions)
        self._client_id = client_id
        self._username = username
        self._password = password
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._reconnect_max_s = reconnect_max_s
        self._mqtt5 = mqtt5
        self._receive_maximum = receive_maximum
        self._clock = clock or SystemClock()
        self._connect_timeout_s = connect_timeout_s
        self._connack_timeout_s = connack_timeout_s
        self._buffer: deque[Delivery] = deque()
        self._acks: list[int] = []
        # Packet ids are per connection: an acknowledgement due after a reconnect is dropped (see above).
        self._connection_no = 0
        self._last_stamp = (-1.0, self._clock.now())
        self._ready = asyncio.Event()
        self._client: _AckHoldingClient | None = None
        self._delay = 1.0
        # When the broker may have been holding messages for our session (see `RawMessage.held`).
        self._down_since: datetime | None = None
        self._held: tuple[datetime, datetime] | None = None
        self._closing = False
        self.connected = asyncio.Event()
        # Set once the broker has answered every SUBSCRIBE of this session (SUBACK): from then on what is
        # published reaches us, or waits in the session. A clustered broker (NATS) takes a while to create
        # the replicated consumers behind them.
        self.subscribed = asyncio.Event()
        self._suback_pending: dict[int, list[str]] = {}  # SUBSCRIBE packet id → its filters
        # Filters the broker refused and not granted since (asked for again with backoff; see above).
        self.refused: set[str] = set()
        self.refusals = 0  # SUBACK failures so far, each attempt counted
        self._resubscribe_s = RESUBSCRIBE_FIRST_S
        self._resubscribe: asyncio.TimerHandle | None = None
        # Why the last connection attempt failed (Chinese, English); None once connected.
        self.failure: tuple[str, str] | None = None

    async def __aenter__(self) -> Self:
        """Connect (retrying with backoff) and subscribe."""
        props: dict[str, Any] = {}
        if self._mqtt5:
            props["session_expiry_interval"] = self._session_expiry_s
            # How many unacknowledged messages the broker may have in flight to us: enough to keep the
            # pipeline busy while a batch is made durable, small enough that a backlog waits in the broker
            # (on disk) rather than in the hub's memory, which keeps receipt-to-durable lag low.
            props["receive_maximum"] = self._receive_maximum
        client = _AckHoldingClient(self._client_id, self._on_publish, self._reconnect_target, **props)
        client.set_config({"reconnect_retries": -1, "reconnect_delay": 1})
        if self._username:
            client.set_auth_credentials(self._username, self._password or None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        self._client = client
        deadline = (
            None
            if self._connect_timeout_s is None
            else asyncio.get_running_loop().time() + (self._connect_timeout_s)
        )
        delay = 0.5
        while True:
            broker = self._brokers[self._current]
            try:
                async with asyncio.timeout(self._connack_timeout_s):
                    await client.connect(
                        broker.host,
                        broker.port,
                        ssl=broker.ssl_context(),
                        keepalive=self._keepalive_s,
                        version=MQTTv50 if self._mqtt5 else MQTTv311,
                    )
                break
            except (OSError, MQTTConnectError) as exc:  # TimeoutError is an OSError; so are SSL errors
                with contextlib.suppress(Exception):  # a half-open attempt must not keep reconnecting
                    async with asyncio.timeout(2):
                        await client.disconnect()
                reason = self._note_failure(exc)
                _, back_off = self._next_broker()
                if not back_off:
                    continue  # the next broker of the list, at once
                now = asyncio.get_running_loop().time()
                if deadline is not None and now + delay > deadline:
                    which = "MQTT broker" if len(self._brokers) == 1 else "any MQTT broker; the last,"
                    raise SourceError(f"cannot connect to {which} {broker}: {reason[1]}") from exc
                LOGGER.debug("MQTT connect to %s failed (%r); retrying in %.1fs", broker, exc, delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._reconnect_max_s)
        return self

    @property
    def broker(self) -> str:
        """host:port of the broker connected to (or being tried)."""
        return str(self._brokers[self._current])

    def _next_broker(self) -> tuple[_Broker, bool]:
        """Move on to the next broker of the list: (it, whether a round of the list has failed and the
        attempt should wait for the backoff first)."""
        self._current = (self._current + 1) % len(self._brokers)
        self._failed_attempts += 1
        return self._brokers[self._current], self._failed_attempts % len(self._brokers) == 0

    def _reconnect_target(self) -> tuple[_Broker, bool]:
        # Until the first connection __aenter__ moves along the list itself; gmqtt's own reconnect after a
        # refused CONNACK there is cut short by its disconnect and must not move along a second time.
        if self._connection_no == 0:
            return self._brokers[self._current], True
        return self._next_broker()

    def _note_failure(self, exc: BaseException) -> tuple[str, str]:
        """Remember why the attempt failed; log it once, plainly, and again only when the reason changes."""
        broker = self._brokers[self._current]
        reason = describe_connect_error(exc, broker.host, broker.port, broker.tls, self._connack_timeout_s)
        if reason != self.failure:
            LOGGER.error("MQTT 连接失败 %s | MQTT connection failed: %s; 将持续重试 (retrying)", *reason)
        self.failure = reason
        return reason

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Disconnect; unacknowledged messages stay with the broker for the next session."""
        self._closing = True  # the disconnect below is ours: not a lost connection
        if self._resubscribe is not None:
            self._resubscribe.cancel()
        if self._client is not None:
            try:
                await self._client.disconnect()
            except (OSError, ConnectionError) as err:
                LOGGER.info("MQTT disconnect failed: %s", err)
        self.connected.clear()

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish with QoS 1 on the hub's own session (the self-check); False while not connected."""
        if self._client is None or not self.connected.is_set():
            return False
        try:
            self._client.publish(topic, payload, qos=1)
        except (OSError, ConnectionError, AttributeError) as exc:  # the connection closed under us
            LOGGER.info("MQTT publish of %s failed: %r", topic, exc)
            return False
        return True

    def subscribe(self, filters: Sequence[str]) -> list[str]:
        """Add topic filters (a device bound after the start); the new ones, subscribed at once when
        connected, and at every connection from now on."""
        known = set(self._subscriptions)  # called at every binding refresh with every device's filters
        new = [f for f in dict.fromkeys(filters) if f not in known]
        self._subscriptions += new
        if new and self._client is not None and self.connected.is_set():
            self._subscribe(self._client, new)
        return new

    def _subscribe(self, client: gmqtt.Client, topics: Sequence[str]) -> None:
        """SUBSCRIBE `topics` at QoS 1, `SUBSCRIBE_CHUNK` filters a packet; their SUBACKs are awaited.

        One packet per filter made gmqtt's SUBACK handling quadratic (it scans every subscription for each
        packet id): a partition's session with thousands of per-device filters spent seconds of the
        backlog drain in it, while the broker was already delivering.
        """
        for i in range(0, len(topics), SUBSCRIBE_CHUNK):
            chunk = list(topics[i : i + SUBSCRIBE_CHUNK])
            mid = client.subscribe([gmqtt.Subscription(topic, qos=1) for topic in chunk])
            self._suback_pending[mid] = chunk

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return drain(self._buffer, self._ready)

    # gmqtt callbacks: wrap and hand over, nothing else.

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, properties: dict[str, Any]) -> None:
        self._connection_no += 1
        self._acks.clear()  # due on the previous connection: its packet ids mean nothing on this one
        self._failed_attempts = 0
        self._delay = 1.0
        client.reconnect_delay = 1
        now = self._clock.now()
        if flags:
            # The session was kept: what arrives now may have waited in the broker since we went away (at
            # most the session expiry, when this process never saw the previous connection).
            since = self._down_since or now - timedelta(seconds=self._session_expiry_s)
            self._held = (since, now)
        else:
            self._held = None
        self._suback_pending = {}
        if not client.subscriptions:
            self._subscribe(client, self._subscriptions)
        elif not flags:
            # The broker lost our session (restarted without persistence, or the session expired):
            # subscribe again, or nothing would arrive. With a session present they are still there.
            if self._connection_no > 1:  # a session of ours existed: what it queued meanwhile is gone
                LOGGER.error(
                    "broker %s 没有保留会话，断线期间排队的消息可能已丢失 | broker %s kept no session: "
                    "messages queued while disconnected may be lost",
                    self._brokers[self._current],
                    self._brokers[self._current],
                )
            topics = list(dict.fromkeys(sub.topic for sub in client.subscriptions))
            client.subscriptions = []
            self._subscribe(client, topics)
        else:
            # A filter the broker refused is not part of the session it kept: ask again on this connection.
            for sub in client.subscriptions:
                if sub.topic in self.refused:
                    self._suback_pending[client.resubscribe(sub)] = [sub.topic]
        if self._suback_pending:
            self.subscribed.clear()
        else:
            self.subscribed.set()
        self.connected.set()
        self.failure = None
        LOGGER.info("MQTT connected to %s (session present: %s)", self._brokers[self._current], flags)

    def _on_subscribe(
        self, client: gmqtt.Client, mid: int, granted: tuple[int, ...], properties: Any
    ) -> None:
        for topic, code in zip(self._suback_pending.pop(mid, ()), granted, strict=False):
            if code >= 0x80:
                # Nothing published on it would arrive: say so plainly, and ask again (NATS refuses a filter
                # whose max_ack_pending would push the session's total past 65535, and any while its cluster
                # has no leader for the stream).
                self.refusals += 1
                if topic not in self.refused:
                    LOGGER.error(
                        "broker 拒绝了订阅 %s | the broker refused the subscription %s", topic, topic
                    )
                self.refused.add(topic)
                self._schedule_resubscribe()
            elif topic in self.refused:
                self.refused.discard(topic)
                LOGGER.warning("broker 已接受订阅 %s | the broker granted the subscription %s", topic, topic)
        if not self.refused:
            self._resubscribe_s = RESUBSCRIBE_FIRST_S
        if not self._suback_pending:
            self.subscribed.set()

    def _schedule_resubscribe(self) -> None:
        if self._resubscribe is not None or self._closing:
            return
        delay = self._resubscribe_s
        self._resubscribe_s = min(delay * 2, RESUBSCRIBE_MAX_S)
        self._resubscribe = asyncio.get_running_loop().call_later(delay, self._subscribe_refused)

    def _subscribe_refused(self) -> None:
        """Ask for the refused filters again (on the next connection instead, if there is none now)."""
        self._resubscribe = None
        client = self._client
        if client is None or self._closing or not self.connected.is_set():
            return
        asked = {topic for topics in self._suback_pending.values() for topic in topics}
        for sub in client.subscriptions:
            if sub.topic in self.refused and sub.topic not in asked:
                self._suback_pending[client.resubscribe(sub)] = [sub.topic]

    def _on_disconnect(self, client: gmqtt.Client, packet: Any, exc: BaseException | None = None) -> None:
        was_connected = self.connected.is_set()
        if was_connected:
            self._down_since = self._clock.now()
        self.connected.clear()
        if self._closing:
            LOGGER.info("MQTT disconnected from %s", self._brokers[self._current])
            return
        self._delay = min(self._delay * 2, self._reconnect_max_s)
        client.reconnect_delay = self._delay
        if was_connected:  # a refused attempt is reported once by _note_failure, not here on every retry
            self.failure = (
                "与 broker 的连接已断开，正在重连",
                "the broker connection was lost; reconnecting",
            )
            if len(self._brokers) > 1:
                LOGGER.warning(
                    "MQTT connection to %s lost; reconnecting to the next broker of the list",
                    self._brokers[self._current],
                )
            else:
                LOGGER.warning("MQTT connection lost; reconnecting in %.0fs", self._delay)

    def _now(self) -> datetime:
        # The clock is read at most once a millisecond: asking it for each of tens of thousands of messages
        # a second is measurable. Every message still gets its own receipt time, one microsecond after the
        # one before: the stores key a reading by its time, so a backlog that the broker redelivers in one
        # burst (after an outage) would otherwise collapse into one reading per device and signal.
        # time.monotonic, not the event loop's time(): a monotonic clock as that is, at a third of the cost
        # a call (70 against 236 ns on the 2-core box, uvloop), paid for every message.
        tick = time.monotonic()
        last_tick, stamp = self._last_stamp
        stamp += _ONE_US
        if tick - last_tick > 0.001:
            stamp = max(stamp, self._clock.now())
            last_tick = tick
        self._last_stamp = (last_tick, stamp)
        return stamp

    def _on_publish(self, mid: int | None, topic: str, payload: bytes, retained: bool) -> None:
        now = self._now()
        held = (_RETAINED_SINCE, now) if retained else self._held
        message = RawMessage("mqtt", topic, payload, now, held)
        # mid is None for QoS 0 (nothing to acknowledge); we subscribe with QoS 1, so never QoS 2.
        self._buffer.append(
            Delivery(message)
            if mid is None
            else Delivery(message, partial(self._ack, self._connection_no, mid))
        )
        self._ready.set()

    def _ack(self, connection_no: int, mid: int) -> None:
        if connection_no != self._connection_no:
            return  # received on an earlier connection: the broker redelivers it on this one
        if not self._acks:
            asyncio.get_running_loop().call_soon(self._send_acks)
        self._acks.append(mid)

    def _send_acks(self) -> None:
        acks, self._acks = self._acks, []
        if self._client is not None:
            self._client.send_pubacks(acks)


def new_client_id(prefix: str) -> str:
    """A unique client id for throwaway publishers (simulator, tests)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
