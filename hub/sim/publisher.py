"""Run the simulated homes on a fast clock and publish their messages to an MQTT broker (QoS 1, gmqtt).

Simulated time starts at the clock's now and runs `speed` simulated seconds per wall second. A message leaves
the outbox only once the broker has acknowledged it, so a broker that goes away loses nothing: the publisher
reconnects with exponential backoff and sends what was not acknowledged again (at least once, as an SOS
deserves). One SOS is pressed at a random home within `sos_within` wall seconds, so a new user of the demo
sees an alert at once; after that an SOS comes rarely, every few simulated hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import gmqtt
from gmqtt.mqtt.constants import MQTTv311
from gmqtt.storage import PersistentStorage

from hub.clock import Clock, SystemClock
from hub.sim.errors import SimError
from hub.sim.routine import (
    HomeState,
    SimHome,
    SimMessage,
    add_messages,
    due_messages,
    new_state,
    sos_press,
    startup_messages,
)
from hub.sim.site import simulated_site

LOGGER = logging.getLogger(__package__)

TICK_S = 0.1  # wall seconds between looks at the simulated clock
CONNECT_TIMEOUT_S = 10.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
ACK_TIMEOUT_S = 10.0  # a broker that holds back acknowledgements this long is treated as gone
SOS_GAP_HOURS = (3.0, 9.0)  # simulated hours between the later, rare SOS presses


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker listens, from a URL like ``mqtt://127.0.0.1:1883`` (``mqtts://`` for TLS)."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Read a broker URL; ``mqtt``/``tcp`` and ``mqtts``/``ssl`` schemes, bare ``host:port`` too."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
            raise SimError(
                f"broker URL {url!r}: scheme {parts.scheme!r} is not mqtt://, tcp://, mqtts:// or ssl://"
            )
        tls = parts.scheme in ("mqtts", "ssl")
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise SimError(f"broker URL {url!r}: the port is not a number between 0 and 65535") from exc
        if not parts.hostname:
            raise SimError(f"broker URL {url!r} names no host")
        return cls(parts.hostname, port, tls)


class Simulation:
    """The homes' states on a simulated clock; hands out the messages that are due, and SOS presses."""

    def __init__(self, site: dict[str, Any], *, seed: int, start: datetime) -> None:
        if start.tzinfo is None:
            raise SimError(f"the simulation start must be timezone-aware, got {start!r}")
        self.start = start
        self.site = site
        self.rng = random.Random(f"eldercare-sim-routine/{seed}")
        self.homes: list[HomeState] = [new_state(SimHome.from_site(h), self.rng) for h in site["homes"]]
        self.next_sos: datetime | None = None

    def announce(self, now: datetime) -> list[SimMessage]:
        """What every home's bridges publish when they (re)connect: availability, LWT, the door's state."""
        return [m for state in self.homes for m in startup_messages(state, now)]

    def press_sos(self, now: datetime) -> SimHome:
        """An SOS press at a random home now; later presses then follow every few simulated hours."""
        state = self.rng.choice(self.homes)
        add_messages(state, sos_press(state, now))
        self.next_sos = now + timedelta(hours=self.rng.uniform(*SOS_GAP_HOURS))
        return state.home

    def due(self, now: datetime) -> list[SimMessage]:
        """Every home's messages due by simulated time `now`, in time order (a rare SOS included)."""
        if self.next_sos is not None and now >= self.next_sos:
            home = self.press_sos(self.next_sos)
            LOGGER.info("simulated SOS press at home %s", home.code)
        messages = [m for state in self.homes for m in due_messages(state, self.rng, now, since=self.start)]
        messages.sort(key=lambda m: m.at)
        return messages


class LinkLost(SimError):
    """The broker connection dropped (or never came up); the publisher reconnects."""


class _Link:
    """One gmqtt connection; tells when the broker went away instead of letting gmqtt reconnect on its own."""

    def __init__(self, client_id: str) -> None:
        self.lost = asyncio.Event()
        self.inflight = PersistentStorage()  # gmqtt keeps unacknowledged QoS 1 publishes here
        link = self

        class _Client(gmqtt.Client):
            async def reconnect(self, delay: bool = False) -> None:
                # gmqtt calls this when the connection drops; reconnecting (with backoff) is the publisher's job.
                link.lost.set()

        self.client = _Client(client_id, persistent_storage=self.inflight)

    async def open(self, address: BrokerAddress) -> None:
        try:
            await asyncio.wait_for(
                # MQTT 3.1.1, as the real devices simulated here speak it; every broker (amqtt too) accepts it.
                self.client.connect(address.host, address.port, ssl=address.tls, version=MQTTv311),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError, gmqtt.MQTTConnectError) as exc:
            raise LinkLost(f"cannot connect to the broker at {address.host}:{address.port}: {exc}") from exc

    async def close(self) -> None:
        with contextlib.suppress(OSError):  # the socket may already be gone; nothing left to tell the broker
            await self.client.disconnect()

    def publish(self, messages: Iterable[SimMessage]) -> None:
        if self.lost.is_set() or not self.client.is_connected:
            raise LinkLost("the broker connection is down")
        for message in messages:
            self.client.publish(message.topic, message.payload, qos=1, retain=message.retain)

    async def acknowledged(self) -> None:
        """Wait until the broker has acknowledged everything published; LinkLost if the connection drops first."""
        drained = asyncio.ensure_future(self.inflight.wait_empty())
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({drained, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            drained.cancel()
            lost.cancel()
        if not self.inflight.is_empty:
            raise LinkLost("the broker connection dropped before it acknowledged every message")


@contextlib.asynccontextmanager
async def _connected(address: BrokerAddress, client_id: str) -> AsyncIterator[_Link]:
    link = _Link(client_id)
    try:
        await link.open(address)
        yield link
    finally:
        await link.close()


class Publisher:
    """Sends a simulation's messages to the broker, in order, until the deadline (wall, loop time) if any."""

    def __init__(
        self, address: BrokerAddress, simulation: Simulation, *, speed: float, sos_within: float
    ) -> None:
        if speed <= 0:
            raise SimError(f"speed must be positive (simulated seconds per wall second), got {speed}")
        self.address = address
        self.sim = simulation
        self.speed = speed
        self.sos_within = sos_within
        self.client_id = f"eldercare-sim-{uuid.uuid4().hex[:8]}"
        self.outbox: deque[SimMessage] = deque()

    async def run(self, duration: float | None) -> None:
        """Publish until `duration` wall seconds have passed (forever if None), reconnecting as needed."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        deadline = None if duration is None else t0 + duration
        sos_at = t0 + self.sim.rng.uniform(0, max(self.sos_within, 0.0))
        backoff = BACKOFF_FIRST_S
        while deadline is None or loop.time() < deadline:
            try:
                async with _connected(self.address, self.client_id) as link:
                    LOGGER.info("simulator connected to %s:%s", self.address.host, self.address.port)
                    backoff = BACKOFF_FIRST_S
                    # Like Zigbee2MQTT and Tasmota, say "online" again on every connection: a broker that
                    # restarted without persistence has forgotten the retained availability.
                    self.outbox.extendleft(reversed(self.sim.announce(self._sim_now(t0, loop.time()))))
                    await self._pump(link, t0, sos_at, deadline)
                    return
            except LinkLost as exc:
                wait = backoff if deadline is None else min(backoff, max(0.0, deadline - loop.time()))
                LOGGER.warning("%s; retrying in %.1f s (%d messages waiting)", exc, wait, len(self.outbox))
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                # Time keeps running while the broker is away: what came due is queued, not lost.
                self._collect(t0, loop.time(), sos_at)

    def _sim_now(self, t0: float, wall: float) -> datetime:
        return self.sim.start + timedelta(seconds=(wall - t0) * self.speed)

    def _collect(self, t0: float, wall: float, sos_at: float) -> None:
        now = self._sim_now(t0, wall)
        if self.sim.next_sos is None and wall >= sos_at:
            home = self.sim.press_sos(now)
            LOGGER.info("simulated SOS press at home %s (the demo's first alert)", home.code)
        self.outbox.extend(self.sim.due(now))

    async def _pump(self, link: _Link, t0: float, sos_at: float, deadline: float | None) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._collect(t0, loop.time(), sos_at)
            batch = list(self.outbox)
            if batch:
                link.publish(batch)
                try:
                    async with asyncio.timeout(ACK_TIMEOUT_S):
                        await link.acknowledged()
                except TimeoutError as exc:
                    raise LinkLost(f"the broker acknowledged nothing for {ACK_TIMEOUT_S:.0f} s") from exc
                for _ in batch:  # acknowledged: now they may leave the outbox
                    self.outbox.popleft()
            if deadline is not None and loop.time() >= deadline:
                return
            await asyncio.sleep(TICK_S if deadline is None else min(TICK_S, max(0.0, deadline - loop.time())))


async def run_simulation(
    broker_url: str,
    homes: int,
    *,
    seed: int = 1,
    speed: float = 60.0,
    sos_within: float = 30.0,
    duration: float | None = None,
    clock: Clock | None = None,
) -> None:
    """Simulate `homes` homes of `simulated_site(homes, seed)` and publish their traffic to `broker_url`.

    Simulated time starts at `clock.now()` (the wall clock by default) and runs `speed` times as fast. One SOS is
    pressed within `sos_within` wall seconds of the start. Runs until `duration` wall seconds have passed, or
    until cancelled when `duration` is None.
    """
    start = (clock or SystemClock()).now()
    simulation = Simulation(simulated_site(homes, seed), seed=seed, start=start)
    await publish_simulation(broker_url, simulation, speed=speed, sos_within=sos_within, duration=duration)


async def publish_simulation(
    broker_url: str,
    simulation: Simulation,
    *,
    speed: float = 60.0,
    sos_within: float = 30.0,
    duration: float | None = None,
) -> None:
    """Publish a prepared `simulation` (e.g. one that has already played its history) from its `start` on.

    Faster than the wall clock, the health monitors send no device time (see `HomeState.device_clock`).
    """
    address = BrokerAddress.parse(broker_url)
    if speed != 1.0:
        for state in simulation.homes:
            state.device_clock = False
    publisher = Publisher(address, simulation, speed=speed, sos_within=sos_within)
    await publisher.run(duration)
