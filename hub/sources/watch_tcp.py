"""The watch TCP source: 4G SOS pendants and watches connect to the hub and speak the watch protocol.

Each device opens one TCP connection over the cellular network and keeps it with a keep-alive (``LK``)
every few minutes. Every frame it sends becomes a `Delivery` on ``watch/<device id>/<command>`` whose
payload is the frame as received; the reply the device expects (``LK``, ``AL``, …, see
`hub.devices.watch.reply_to`) is that delivery's `on_durable`, so it is written only after what the hub
derived from the frame is durable. A pendant that gets no ``AL`` back sends its alarm again (on this
connection or, after the hub restarted, on a new one): an SOS the hub accepted but never made durable
comes back instead of being lost.

Connections: bytes are cut into frames whatever the TCP reads look like (`FrameSplitter`); bytes that do not
frame, or a frame over `max_frame` bytes, are quarantined with the reason and the connection goes on. A
connection silent for longer than `idle_timeout_s` (a few keep-alive intervals) is closed, and so is the
older connection of a device that connects again: both are how a half-open link (the device lost its
radio, the carrier's NAT forgot the flow) shows itself, and closing them frees what they hold. TCP
keep-alive is switched on too, so the kernel finds dead peers of connections the device still uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Self

from hub.clock import Clock, SystemClock
from hub.devices.watch import FRAME_MAX, FrameError, FrameSplitter, Refused, parse_frame, reply_to
from hub.models import RawMessage
from hub.sources.delivery import Delivery, drain
from hub.sources.errors import SourceError

LOGGER = logging.getLogger(__name__)

SOURCE = "watch"
_READ_SIZE = 4096
# The topic of bytes that are no frame of a known device (quarantined with the reason).
UNFRAMED_TOPIC = "watch/-/unframed"


class WatchSource:
    """An async context manager that listens for watch-protocol devices; iterate it for deliveries."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        idle_timeout_s: float,
        max_frame: int = FRAME_MAX,
        reply_to_locations: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if idle_timeout_s <= 0 or max_frame < 64:
            raise ValueError(
                f"idle_timeout_s must be > 0 and max_frame >= 64, got {idle_timeout_s}, {max_frame}"
            )
        self._host = host
        self._port = port
        self._idle_timeout_s = idle_timeout_s
        self._max_frame = max_frame
        self._reply_to_locations = reply_to_locations
        self._clock = clock or SystemClock()
        self._server: asyncio.Server | None = None
        self._buffer: deque[Delivery] = deque()
        self._ready = asyncio.Event()
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        # The newest connection of each device id: an older one is closed when a device connects again.
        self._by_device: dict[str, asyncio.StreamWriter] = {}
        self.port = port  # the bound port (useful with port 0)
        self.listening = asyncio.Event()

    @property
    def connections(self) -> int:
        """Open device connections."""
        return len(self._handlers)

    async def __aenter__(self) -> Self:
        """Start listening."""
        try:
            self._server = await asyncio.start_server(self._on_connect, self._host, self._port)
        except OSError as exc:
            raise SourceError(f"cannot listen for watch devices on {self._host}:{self._port}: {exc}") from exc
        self.port = self._server.sockets[0].getsockname()[1]
        self.listening.set()
        LOGGER.info("手表/SOS 终端 TCP 监听 listening for watch devices on %s:%s", self._host, self.port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop listening and close every connection (unacknowledged alarms are re-sent by the devices)."""
        self.listening.clear()
        if self._server is not None:
            self._server.close()
        # Closing the transports ends each handler's read (cancelling them instead upsets asyncio's
        # stream callback, which asks a finished handler for its exception).
        for writer in list(self._handlers.values()):
            writer.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return drain(self._buffer, self._ready)

    # -- connections ----------------------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        devices: set[str] = set()
        try:
            await self._serve(reader, writer, peer, devices)
        except (ConnectionError, OSError) as exc:
            LOGGER.info("watch connection from %s dropped: %s", peer, exc)
        finally:
            self._handlers.pop(task, None)
            for device in devices:
                if self._by_device.get(device) is writer:
                    del self._by_device[device]
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object, devices: set[str]
    ) -> None:
        splitter = FrameSplitter(self._max_frame)
        while True:
            try:
                async with asyncio.timeout(self._idle_timeout_s):
                    data = await reader.read(_READ_SIZE)
            except TimeoutError:
                LOGGER.info(
                    "watch connection from %s (%s) silent for %.0f s: closed",
                    peer,
                    ",".join(sorted(devices)) or "no frame yet",
                    self._idle_timeout_s,
                )
                return
            if not data:
                rest = splitter.take_rest()
                if rest.strip(b"\r\n\x00 "):
                    self._reject(rest, "watch: connection closed inside a frame (no ']')")
                return
            for item in splitter.feed(data):
                if isinstance(item, Refused):
                    self._reject(item.data, item.reason)
                else:
                    self._frame(item, writer, devices)

    def _frame(self, data: bytes, writer: asyncio.StreamWriter, devices: set[str]) -> None:
        try:
            frame = parse_frame(data)
        except FrameError as exc:
            self._reject(data, str(exc))
            return
        if frame.device_id not in devices:
            devices.add(frame.device_id)
            older = self._by_device.get(frame.device_id)
            if older is not None and older is not writer:
                # The device connected again: its old connection is half-open (it will never read our reply).
                older.close()
            self._by_device[frame.device_id] = writer
        message = RawMessage(SOURCE, f"watch/{frame.device_id}/{frame.command}", data, self._clock.now())
        reply = reply_to(frame, reply_to_locations=self._reply_to_locations)
        self._hand_over(Delivery(message) if reply is None else Delivery(message, _replier(writer, reply)))

    def _reject(self, data: bytes, reason: str) -> None:
        LOGGER.warning("watch: quarantined %d bytes: %s", len(data), reason)
        message = RawMessage(SOURCE, UNFRAMED_TOPIC, data, self._clock.now())
        self._hand_over(Delivery(message, rejected=reason))

    def _hand_over(self, delivery: Delivery) -> None:
        self._buffer.append(delivery)
        self._ready.set()


def _replier(writer: asyncio.StreamWriter, reply: bytes) -> Callable[[], None]:
    def send() -> None:
        # A connection closed meanwhile cannot carry the reply; the device sends the frame again.
        if not writer.is_closing():
            writer.write(reply)

    return send
