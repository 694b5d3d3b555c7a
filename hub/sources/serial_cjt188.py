"""The CJ/T 188 serial source: polls water meters on an M-Bus / RS-485 line and yields their replies.

Each poll sends a "read cumulative flow" request to one meter and waits for its reply frame. Serial I/O
blocks, so it runs in a worker thread (`asyncio.to_thread`); the bus is half-duplex, so exchanges never
overlap. What the meter sent is yielded as a `RawMessage` on ``cjt188/<address>`` — even garbage, so the
pipeline can quarantine it with the decoder's reason. Silence (a timeout) is not a message: it is logged
and counted in `timeouts` (a meter that stays silent shows up as a missing reading).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Protocol, Self, cast

import serial

from hub.clock import Clock, SystemClock
from hub.devices.cjt188 import build_read_request, complete_frame_length
from hub.models import RawMessage
from hub.sources.errors import SourceError

LOGGER = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 2400  # CJ/T 188 over M-Bus: 2400 baud, 8E1


class _Port(Protocol):
    """The part of a pyserial port the poller uses (``serial_for_url`` is typed as returning SerialBase)."""

    @property
    def in_waiting(self) -> int: ...
    def reset_input_buffer(self) -> None: ...
    def write(self, data: bytes, /) -> int | None: ...
    def flush(self) -> None: ...
    def read(self, size: int = 1, /) -> bytes: ...
    def close(self) -> None: ...


class Cjt188Poller:
    """Async context manager and async iterator polling CJ/T 188 meters on one serial line.

    ``async with Cjt188Poller(url, ["00000000000012"], interval=900) as poller: async for raw in poller: …``
    `url` is anything pyserial's ``serial_for_url`` accepts (``/dev/ttyUSB0``, ``rfc2217://host:port``).
    """

    def __init__(
        self,
        url: str,
        addresses: Sequence[str],
        interval: float,
        *,
        clock: Clock | None = None,
        timeout: float = 2.0,
        baudrate: int = DEFAULT_BAUDRATE,
    ) -> None:
        if not addresses:
            raise ValueError("Cjt188Poller needs at least one meter address")
        if interval < 0 or timeout <= 0:
            raise ValueError(f"interval must be >= 0 and timeout > 0, got {interval} and {timeout}")
        self._requests = [(address, build_read_request(address)) for address in addresses]
        self._url = url
        self._interval = interval
        self._timeout = timeout
        self._baudrate = baudrate
        self._clock: Clock = clock or SystemClock()
        self._port: _Port | None = None
        self.timeouts = 0  # exchanges that got no byte back
        self.polls = 0  # exchanges attempted

    async def __aenter__(self) -> Self:
        """Open the serial port (2400 baud, even parity)."""
        try:
            port = await asyncio.to_thread(
                serial.serial_for_url,
                self._url,
                baudrate=self._baudrate,
                parity=serial.PARITY_EVEN,
                timeout=min(self._timeout, 0.1),
            )
        except (serial.SerialException, OSError) as exc:
            raise SourceError(f"cannot open CJ/T 188 serial port {self._url}: {exc}") from exc
        self._port = cast(_Port, port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the port."""
        port, self._port = self._port, None
        if port is not None:
            await asyncio.to_thread(port.close)

    def __aiter__(self) -> AsyncIterator[RawMessage]:
        """Poll every meter in turn, then wait `interval` seconds, forever."""
        return self._poll()

    async def _poll(self) -> AsyncIterator[RawMessage]:
        while True:
            for address, request in self._requests:
                reply = await self._exchange(address, request)
                if reply:
                    yield RawMessage("serial", f"cjt188/{address}", reply, self._clock.now())
            await asyncio.sleep(self._interval)

    async def _exchange(self, address: str, request: bytes) -> bytes:
        port = self._port
        if port is None:
            raise SourceError("Cjt188Poller used outside 'async with'")
        self.polls += 1
        try:
            reply = await asyncio.to_thread(self._exchange_blocking, port, request)
        except (serial.SerialException, OSError) as exc:
            raise SourceError(f"CJ/T 188 serial port {self._url} failed: {exc}") from exc
        if not reply:
            self.timeouts += 1
            LOGGER.warning("CJ/T 188 meter %s did not answer within %.1f s", address, self._timeout)
        return reply

    def _exchange_blocking(self, port: _Port, request: bytes) -> bytes:
        """Send `request`, then read until one whole frame is in or `timeout` has passed (worker thread)."""
        port.reset_input_buffer()  # drop late bytes of an earlier exchange so replies never shift
        port.write(request)
        port.flush()
        buffer = bytearray()
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            chunk = port.read(max(1, port.in_waiting))
            if chunk:
                buffer += chunk
                length = complete_frame_length(buffer)
                if length is not None:
                    return bytes(buffer[:length])
        return bytes(buffer)  # partial frame or garbage: the decoder will say what is wrong
