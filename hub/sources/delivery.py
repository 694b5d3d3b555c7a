"""`Delivery`: a raw message plus what to do once the pipeline has made it durable (or failed to)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from hub.models import RawMessage


def _nothing() -> None:
    return None


def _ignore(exc: BaseException) -> None:
    return None


def _no_reason(reason: str) -> None:
    return None


@dataclass(slots=True)
class Delivery:
    """A message handed to the pipeline.

    `on_durable` acknowledges upstream (an MQTT PUBACK, an HTTP 202); it is called only after what the hub
    derived from the message is durable. `on_failed` is called instead when that could not be done; the
    source must then leave the message unacknowledged so it is delivered again. `on_quarantined` tells a
    source that can answer its sender (HTTP) why the message was quarantined; it is still made durable.
    `rejected` is set by a source that already knows the bytes are no message (a TCP stream that does not
    frame): the pipeline quarantines them with that reason instead of decoding them.
    """

    message: RawMessage
    on_durable: Callable[[], None] = _nothing
    on_failed: Callable[[BaseException], None] = _ignore
    on_quarantined: Callable[[str], None] = _no_reason
    rejected: str | None = None

    @classmethod
    def awaitable(cls, message: RawMessage) -> tuple[Delivery, asyncio.Future[None]]:
        """A delivery whose outcome a caller can await (HTTP ingest)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def durable() -> None:
            if not fut.done():
                fut.set_result(None)

        def failed(exc: BaseException) -> None:
            if not fut.done():
                fut.set_exception(exc)

        return cls(message, durable, failed), fut


async def drain(buffer: deque[Delivery], ready: asyncio.Event) -> AsyncIterator[Delivery]:
    """A source's incoming deliveries as an async iterator: what `buffer` holds, then wait until the source's
    callback appends more and sets `ready` (callbacks only hand over; the consumer does the work)."""
    while True:
        while buffer:
            yield buffer.popleft()
        ready.clear()
        await ready.wait()
