"""A simulated 4G watch: a TCP client that speaks the watch protocol to the hub as a real device does.

It connects to the hub's watch listener, says ``LK`` (keep-alive) and waits for the ``LK`` reply, reports its
position (``UD``: near home with a few metres of GPS scatter, now and then a walk of a few hundred metres
and back) and the wearer's heart rate (``heart``). An alarm (``AL``) is sent again until the hub answers
``AL``: a device that gets no reply takes the link as dead and sends it again on a new connection, as a
pendant does. Frames are built and read with
`hub.devices.watch`, the hub's own codec. Positions follow the simulated clock (`speed` simulated seconds per
wall second); the frames carry the device's real (wall-clock) time in UTC, as the firmware's clock does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hub.devices.watch import FrameError, FrameSplitter, Refused, encode_frame, parse_frame
from hub.sim.errors import SimError

LOGGER = logging.getLogger(__package__)

MAKER = "3G"
LOCATION_EVERY_S = 600.0  # simulated seconds between UD reports (a watch's usual 10 minutes)
KEEPALIVE_EVERY_S = 300.0  # simulated seconds between LK keep-alives
HEART_EVERY_S = 1800.0  # simulated seconds between heart-rate measurements
REPLY_TIMEOUT_S = 10.0  # wall seconds a device waits for LK or AL before it takes the link as dead
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 30.0
WALK_CHANCE = 0.04  # per location report: a walk starts about every four simulated hours
WALK_MINUTES = (20.0, 60.0)  # simulated minutes out and back
WALK_METRES = (150.0, 450.0)  # how far the walk goes (the demo's safe zones are larger)
GPS_SCATTER_M = 8.0
_M_PER_DEG_LAT = 111_320.0
SOS_STATUS = 1 << 16  # status bit 16: the SOS key


class SimWatch:
    """One simulated watch of `device_id` worn by an elder living at (`home_lat`, `home_lon`) (WGS-84)."""

    def __init__(
        self,
        host: str,
        port: int,
        device_id: str,
        home: tuple[float, float],
        *,
        seed: int,
        speed: float = 60.0,
        wall: Callable[[], datetime] | None = None,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        if speed <= 0:
            raise SimError(f"speed must be positive (simulated seconds per wall second), got {speed}")
        self.host, self.port, self.device_id = host, port, device_id
        self.home_lat, self.home_lon = home
        self.speed = speed
        self.reply_timeout_s = reply_timeout_s
        self.rng = random.Random(f"eldercare-sim-watch/{seed}/{device_id}")
        self._wall = wall or (lambda: datetime.now(UTC))
        self.battery, self.steps = 100, 0
        self._walk: tuple[float, float, float, float] | None = None  # start (sim s), length, metres, bearing
        self._sim_s = 0.0
        self._alarm_pending = False
        self._replies: dict[str, asyncio.Event] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._link_up = False  # False once the hub closed the connection (its reader ended)
        self.sent: list[str] = []  # the commands sent, in order (for tests and the log)

    # -- frames ---------------------------------------------------------------------------------------

    def position(self, sim_s: float) -> tuple[float, float]:
        """Where the watch is `sim_s` simulated seconds after start: home, or on the way of a walk."""
        metres, bearing = 0.0, 0.0
        if self._walk is not None:
            start, length, far, bearing = self._walk
            done = (sim_s - start) / length
            if done >= 1:
                self._walk = None
            else:
                metres = far * (1 - abs(2 * done - 1))  # out, then back the same way
        north = metres * math.cos(bearing) + self.rng.gauss(0, GPS_SCATTER_M)
        east = metres * math.sin(bearing) + self.rng.gauss(0, GPS_SCATTER_M)
        lat = self.home_lat + north / _M_PER_DEG_LAT
        lon = self.home_lon + east / (_M_PER_DEG_LAT * math.cos(math.radians(self.home_lat)))
        return lat, lon

    def _body(self, sim_s: float, status: int) -> str:
        lat, lon = self.position(sim_s)
        now = self._wall().astimezone(UTC)
        moving = self._walk is not None
        return (
            f"{now:%d%m%y},{now:%H%M%S},A,{abs(lat):.6f},{'N' if lat >= 0 else 'S'},"
            f"{abs(lon):.6f},{'E' if lon >= 0 else 'W'},{3.2 if moving else 0.0},0.0,300,"
            f"{self.rng.randint(6, 11)},{self.rng.randint(60, 100)},{self.battery},{self.steps},0,{status:08X}"
        )

    def location_frame(self, sim_s: float) -> bytes:
        """A UD report for simulated second `sim_s` (a walk may begin here)."""
        if self._walk is None and self.rng.random() < WALK_CHANCE:
            self._walk = (
                sim_s,
                self.rng.uniform(*WALK_MINUTES) * 60,
                self.rng.uniform(*WALK_METRES),
                self.rng.uniform(0, 2 * math.pi),
            )
        if self._walk is not None:
            self.steps += self.rng.randint(500, 900)
        self.battery = max(20, self.battery - (1 if self.rng.random() < 0.1 else 0))
        return encode_frame(MAKER, self.device_id, "UD," + self._body(sim_s, 0))

    def alarm_frame(self, sim_s: float) -> bytes:
        """An AL frame (the SOS key was pressed) with the position of simulated second `sim_s`."""
        return encode_frame(MAKER, self.device_id, "AL," + self._body(sim_s, SOS_STATUS))

    def keepalive_frame(self) -> bytes:
        """An LK keep-alive with steps, rolls and battery."""
        return encode_frame(MAKER, self.device_id, f"LK,{self.steps},0,{self.battery}")

    def heart_frame(self) -> bytes:
        """A heart-rate measurement (bpm)."""
        return encode_frame(MAKER, self.device_id, f"heart,{self.rng.randint(62, 88)}")

    # -- the connection -------------------------------------------------------------------------------

    @property
    def alarm_pending(self) -> bool:
        """An SOS press the hub has not answered AL to yet."""
        return self._alarm_pending

    def press_sos(self) -> None:
        """The SOS key: an AL frame is sent, and sent again until the hub answers AL."""
        self._alarm_pending = True

    async def run(self, duration: float | None = None) -> None:
        """Stay connected (reconnecting with backoff) and report, for `duration` wall seconds or forever."""
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        backoff = BACKOFF_FIRST_S
        while deadline is None or loop.time() < deadline:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                LOGGER.info("simulated watch %s cannot connect: %s", self.device_id, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_FIRST_S
            self._writer, self._link_up = writer, True
            listener = asyncio.create_task(self._listen(reader))
            try:
                await self._report(deadline)
                return
            except (ConnectionError, TimeoutError) as exc:
                LOGGER.info("simulated watch %s: link lost (%s), reconnecting", self.device_id, exc)
            finally:
                listener.cancel()
                await asyncio.wait([listener])  # its end marks the link down before a new one is up
                writer.close()
                with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                    await writer.wait_closed()
                self._writer = None

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        splitter = FrameSplitter()
        try:
            while data := await reader.read(4096):
                for item in splitter.feed(data):
                    if isinstance(item, Refused):
                        continue
                    # A garbled reply is no reply: the wait for it times out.
                    with contextlib.suppress(FrameError):
                        self._reply_event(parse_frame(item).command).set()
        except (ConnectionError, OSError) as exc:
            LOGGER.info("simulated watch %s: read failed: %s", self.device_id, exc)
        finally:
            self._link_up = False
            for event in self._replies.values():  # the link is gone: nobody waits for a reply in vain
                event.set()

    def _reply_event(self, command: str) -> asyncio.Event:
        return self._replies.setdefault(command, asyncio.Event())

    async def _send(self, frame: bytes, *, reply: str | None = None) -> None:
        """Send `frame`; with `reply`, wait for it (TimeoutError if it does not come: the link is dead)."""
        assert self._writer is not None
        event = self._reply_event(reply) if reply else None
        if event is not None:
            event.clear()
        self._writer.write(frame)
        await self._writer.drain()
        self.sent.append(parse_frame(frame).command)
        if event is not None:
            async with asyncio.timeout(self.reply_timeout_s):
                await event.wait()
            if not self._link_up:
                raise ConnectionError("the hub closed the connection")

    async def _report(self, deadline: float | None) -> None:
        loop = asyncio.get_running_loop()
        t0, sim0 = loop.time(), self._sim_s
        await self._send(self.keepalive_frame(), reply="LK")
        next_at: dict[str, float] = {"UD": 0.0, "heart": 0.0, "LK": KEEPALIVE_EVERY_S}
        while deadline is None or loop.time() < deadline:
            self._sim_s = sim0 + (loop.time() - t0) * self.speed
            if self._alarm_pending:
                await self._send(self.alarm_frame(self._sim_s), reply="AL")  # TimeoutError: sent again
                self._alarm_pending = False
            for command, every in (
                ("UD", LOCATION_EVERY_S),
                ("heart", HEART_EVERY_S),
                ("LK", KEEPALIVE_EVERY_S),
            ):
                if self._sim_s - sim0 >= next_at[command]:
                    next_at[command] += every
                    if command == "UD":
                        await self._send(self.location_frame(self._sim_s))
                    elif command == "heart":
                        await self._send(self.heart_frame())
                    else:
                        await self._send(self.keepalive_frame(), reply="LK")
            wait = min(next_at.values()) - (self._sim_s - sim0)
            await asyncio.sleep(max(0.05, min(1.0, wait / self.speed)))


def site_watches(site: dict[str, Any]) -> list[tuple[str, tuple[float, float]]]:
    """The site's 4G watches: (device id, the wearer's home = the centre of her safe zone)."""
    out = []
    for home in site["homes"]:
        zones = [e["safe_zone"] for e in home["elders"] if e.get("safe_zone")]
        for device in home["devices"]:
            if device["model"] == "4g_watch" and zones:
                out.append((str(device["external_id"]), (zones[0]["lat"], zones[0]["lon"])))
    return out


async def run_watches(host: str, port: int, site: dict[str, Any], *, seed: int, speed: float) -> None:
    """Run a `SimWatch` for every watch of `site` against the hub's listener at `host`:`port`, forever."""
    watches = [
        SimWatch(host, port, device, home, seed=seed, speed=speed) for device, home in site_watches(site)
    ]
    await asyncio.gather(*(w.run() for w in watches))
