"""Cjt188Poller against a meter played by a thread on the other end of a real pseudo-terminal."""

from __future__ import annotations

import os
import select
import threading
import tty
from datetime import UTC, datetime

import pytest

from hub.clock import FrozenClock
from hub.devices.cjt188 import checksum, complete_frame_length, parse_frame
from hub.devices.errors import DeviceError
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.models import RawMessage, Signal
from hub.sources.errors import SourceError
from hub.sources.serial_cjt188 import Cjt188Poller

ADDRESS = "00000000000012"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def reply(hundredths_bcd: str, *, bad_checksum: bool = False) -> bytes:
    """A C=81 cumulative-flow reply of meter `ADDRESS` (value as 4 BCD bytes low first, m³)."""
    body = bytes.fromhex(
        f"68 10 12 00 00 00 00 00 00 81 16 90 1F 00 {hundredths_bcd} 2C 10 00 10 00 2C"
        " 00 00 00 00 00 00 00 00 FF"
    )
    cs = (checksum(body) + (1 if bad_checksum else 0)) & 0xFF
    return b"\xfe\xfe\xfe" + body + bytes((cs, 0x16))


class Meter(threading.Thread):
    """Answers each well-formed read request on the pty master with the next scripted reply (None = silence)."""

    def __init__(self, master: int, replies: list[bytes | None]) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        buffer = bytearray()
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                buffer += os.read(self.master, 256)
            except OSError:
                return
            length = complete_frame_length(buffer)
            if length is None:
                continue
            request = parse_frame(bytes(buffer[:length]))
            del buffer[:length]
            self.requests.append(bytes(request.data))
            if request.address != ADDRESS or not self.replies:
                continue
            answer = self.replies.pop(0)
            if answer is not None:
                os.write(self.master, answer)


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    tty.setraw(master)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


async def test_poller_yields_replies_and_garbage_and_counts_silence(pty_pair: tuple[int, str]) -> None:
    master, port = pty_pair
    good, corrupt, later = reply("10 00 10 00"), reply("20 00 10 00", bad_checksum=True), reply("30 00 10 00")
    garbage = b"\x00\x15line noise"
    meter = Meter(master, [good, corrupt, None, garbage, later])
    meter.start()
    clock = FrozenClock(T0)
    messages: list[RawMessage] = []
    try:
        async with Cjt188Poller(port, [ADDRESS], interval=0, clock=clock, timeout=0.5) as poller:
            async for message in poller:
                messages.append(message)
                if len(messages) == 4:
                    break
            timeouts = poller.timeouts
    finally:
        meter.stopping.set()
        meter.join()

    assert [m.payload for m in messages] == [good, corrupt, garbage, later]
    assert all(
        m.topic == f"cjt188/{ADDRESS}" and m.source == "serial" and m.received_at == T0 for m in messages
    )
    assert timeouts == 1  # the silent poll is counted, not yielded
    assert meter.requests[0][:2] == bytes.fromhex("90 1F")

    registry = DeviceRegistry.default()
    binding = Binding("home-1", "meter-1", "cjt188", ADDRESS, "water_meter")
    totals: list[float] = []
    errors: list[str] = []
    for message in messages:
        route = registry.route(message.topic)
        assert route is not None
        try:
            readings = registry.decode(message, route, binding)
        except DeviceError as exc:
            errors.append(str(exc))
            continue
        totals += [r.value for r in readings if r.signal is Signal.WATER_TOTAL]
    assert totals == [1_000_100, 1_000_300]
    assert len(errors) == 2
    assert "checksum" in errors[0]
    assert "does not start with 68" in errors[1]


async def test_missing_port_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="cannot open"):
        async with Cjt188Poller("/dev/no-such-meter-port", [ADDRESS], interval=1):
            pass
