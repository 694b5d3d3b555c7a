"""The watch TCP source over real sockets, feeding the real pipeline on SQLite: replies only after durable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.app import BindingCache
from hub.clock import FrozenClock
from hub.devices.registry import DeviceRegistry
from hub.ingest.pipeline import Pipeline
from hub.ingest.register_writer import RegisterWriter
from hub.register.models import Alert, QuarantinedMessage
from hub.sources.watch_tcp import WatchSource
from hub.store import SqliteStore
from tests.site_fixture import SITE_YAML, make_site

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
WATCH_ID = "8809008845"
WATCH_SITE = SITE_YAML + (
    f"      - {{code: H002-watch, ecosystem: watch, external_id: '{WATCH_ID}', model: 4g_watch}}\n"
)
# Traccar's documented alarm with status bit 16 (SOS), no GPS fix.
SOS = (
    f"[3G*{WATCH_ID}*00C0*AL,271219,094744,V,00.000000,N, 0.0000000,E,0.00,0.0,0.0,0,100,81,0,0,00010000,"
    "7,0,460,0,9336,3981,141,9336,3912,141,9336,3982,140,9765,4233,134,9765,4071,134,9765,4321,134,9336,"
    "4353,132,0,0.0]"
).encode()
LK = f"[3G*{WATCH_ID}*000B*LK,0,10,100]".encode()
LK_REPLY = f"[3G*{WATCH_ID}*0002*LK]".encode()


@dataclass
class Hub:
    """A watch source feeding a pipeline whose batches the test flushes by hand."""

    source: WatchSource
    pipeline: Pipeline
    sessions: object

    async def device(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.source.port)

    async def accepted(self, n: int) -> None:
        """Until `n` deliveries wait in the pipeline's batch."""
        async with asyncio.timeout(10):
            while self.pipeline.pending < n:  # noqa: ASYNC110 (the pipeline has no event for this)
                await asyncio.sleep(0.01)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    sessions = make_site(tmp_path, site_yaml=WATCH_SITE)
    bindings = BindingCache(sessions)
    bindings.reload()
    store = SqliteStore(tmp_path / "ts.sqlite")
    pipeline = Pipeline(
        registry=DeviceRegistry.default(),
        bindings=bindings.get,
        store=store,
        register=RegisterWriter(sessions),
        clock=FrozenClock(T0),
    )
    async with store, WatchSource("127.0.0.1", 0, idle_timeout_s=0.5, max_frame=1024) as source:
        task = asyncio.create_task(pipeline.consume(source))
        yield Hub(source, pipeline, sessions)
        task.cancel()


async def _nothing_within(reader: asyncio.StreamReader, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(100), seconds)


async def test_sos_arriving_in_pieces_is_answered_only_once_it_is_an_alert(hub: Hub) -> None:
    reader, writer = await hub.device()
    for piece in (SOS[:5], SOS[5:60], SOS[60:] + LK):  # one frame in three reads, the next in the last
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.02)
    await hub.accepted(2)
    await _nothing_within(reader, 0.3)  # accepted, not yet durable: the pendant hears nothing
    with hub.sessions() as s:  # type: ignore[operator]
        assert s.scalars(select(Alert)).all() == []

    await hub.pipeline.flush()
    reply = await asyncio.wait_for(reader.readexactly(len(LK_REPLY) * 2), 5)
    assert reply == f"[3G*{WATCH_ID}*0002*AL]".encode() + LK_REPLY
    with hub.sessions() as s:  # type: ignore[operator]
        alerts = [(a.home.code, a.kind, a.device_code) for a in s.scalars(select(Alert)).all()]
    assert alerts == [("H002", "sos", "H002-watch")]
    writer.close()


async def test_garbage_and_strangers_are_quarantined_with_a_reason_and_the_link_goes_on(hub: Hub) -> None:
    reader, writer = await hub.device()
    writer.write(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + LK + b"[3G*0000000001*0002*LK]" + b"[3G*1*" + b"x" * 2000
    )
    await writer.drain()
    await hub.accepted(4)
    await hub.pipeline.flush()
    replies = await asyncio.wait_for(reader.readexactly(len(LK_REPLY) + len(b"[3G*0000000001*0002*LK]")), 5)
    assert replies == LK_REPLY + b"[3G*0000000001*0002*LK]"
    with hub.sessions() as s:  # type: ignore[operator]
        rows = s.scalars(select(QuarantinedMessage).order_by(QuarantinedMessage.id)).all()
        quarantined = [(q.source, q.topic, q.reason) for q in rows]
    assert quarantined[0][:2] == ("watch", "watch/-/unframed")
    assert "outside a frame" in quarantined[0][2]
    assert quarantined[1][1] == "watch/0000000001/LK" and "0000000001" in quarantined[1][2]
    assert "longer than 1024 bytes" in quarantined[2][2]
    writer.close()


async def test_a_silent_connection_is_closed(hub: Hub) -> None:
    reader, writer = await hub.device()
    writer.write(LK)
    await hub.accepted(1)
    await hub.pipeline.flush()
    assert await asyncio.wait_for(reader.readexactly(len(LK_REPLY)), 5) == LK_REPLY
    # Then nothing for longer than the idle timeout (0.5 s): the hub hangs up.
    assert await asyncio.wait_for(reader.read(100), 10) == b""
    writer.close()


async def test_a_device_that_connects_again_replaces_its_half_open_connection(hub: Hub) -> None:
    old_reader, old_writer = await hub.device()
    old_writer.write(LK)
    await hub.accepted(1)
    reader, writer = await hub.device()
    writer.write(LK)
    await hub.accepted(2)
    assert await asyncio.wait_for(old_reader.read(100), 5) == b""  # the old link is closed at once
    await hub.pipeline.flush()
    # The reply to the frame of the closed link is not written anywhere; the new link gets its own.
    assert await asyncio.wait_for(reader.readexactly(len(LK_REPLY)), 5) == LK_REPLY
    writer.close()
    old_writer.close()
