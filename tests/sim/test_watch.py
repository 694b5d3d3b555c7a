"""The simulated 4G watch against the hub's real watch listener: what it reports, and its unanswered alarm."""

from __future__ import annotations

import asyncio
import math

from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.models import Signal
from hub.sim.site import SAFE_ZONE_RADIUS_M, simulated_site, watch_id
from hub.sim.watch import SimWatch, site_watches
from hub.sources.delivery import Delivery
from hub.sources.watch_tcp import WatchSource

HOME = (29.68, 106.58)
DEVICE = "8800000001"


def test_the_site_gives_watches_and_safe_zones_to_the_first_homes_only() -> None:
    plain, with_watches = simulated_site(4, seed=1), simulated_site(4, seed=1, watches=2)
    watches = site_watches(with_watches)
    assert [device for device, _ in watches] == [watch_id(1), watch_id(2)]
    assert site_watches(plain) == []
    # Besides the watch and the zone, the homes are the same: the demo's other data does not move.
    for home in with_watches["homes"]:
        home["devices"] = [d for d in home["devices"] if d["model"] != "4g_watch"]
        for elder in home["elders"]:
            elder.pop("safe_zone", None)
    assert with_watches == plain


async def _serve(
    source: WatchSource, seen: list[Delivery], stop: asyncio.Event, *, ignore_alarms: int
) -> None:
    """Make every delivery durable at once, except the first `ignore_alarms` alarms (lost before durable)."""
    async for delivery in source:
        seen.append(delivery)
        if delivery.message.topic.endswith("/AL") and ignore_alarms > 0:
            ignore_alarms -= 1
            continue
        delivery.on_durable()
        if stop.is_set():
            return


async def test_the_watch_reports_a_position_near_home_and_heart_rate_the_hub_decodes() -> None:
    registry = DeviceRegistry.default()
    binding = Binding("H001", "H001-watch", "watch", DEVICE, "4g_watch")
    seen: list[Delivery] = []
    async with WatchSource("127.0.0.1", 0, idle_timeout_s=30) as source:
        watch = SimWatch("127.0.0.1", source.port, DEVICE, HOME, seed=1, speed=600.0)
        server = asyncio.create_task(_serve(source, seen, asyncio.Event(), ignore_alarms=0))
        await watch.run(duration=2.0)  # 20 simulated minutes: LK, UD, heart, LK, UD, …
        server.cancel()
    assert {"LK", "UD", "heart"} <= set(watch.sent)
    readings = []
    for delivery in seen:
        route = registry.route(delivery.message.topic)
        assert route is not None, delivery.message.topic
        readings += registry.decode(delivery.message, route, binding)
    by_signal: dict[Signal, list[float]] = {}
    for reading in readings:
        by_signal.setdefault(reading.signal, []).append(reading.value)
    assert by_signal[Signal.AVAILABILITY] and 40 <= by_signal[Signal.HEART_RATE][0] <= 120
    for lat, lon in zip(by_signal[Signal.LATITUDE], by_signal[Signal.LONGITUDE], strict=True):
        metres = math.hypot(lat - HOME[0], (lon - HOME[1]) * math.cos(math.radians(HOME[0]))) * 111_320
        assert metres < SAFE_ZONE_RADIUS_M  # walks stay inside the demo's safe zone: no false alert


async def test_an_alarm_the_hub_does_not_answer_is_sent_again_until_it_does() -> None:
    seen: list[Delivery] = []
    async with WatchSource("127.0.0.1", 0, idle_timeout_s=30) as source:
        watch = SimWatch("127.0.0.1", source.port, DEVICE, HOME, seed=1, speed=60.0, reply_timeout_s=0.5)
        watch.press_sos()
        server = asyncio.create_task(_serve(source, seen, asyncio.Event(), ignore_alarms=1))
        runner = asyncio.create_task(watch.run())
        async with asyncio.timeout(30):
            while watch.alarm_pending:  # noqa: ASYNC110 (the watch has no event for this)
                await asyncio.sleep(0.05)
        runner.cancel()
        server.cancel()
    alarms = [d for d in seen if d.message.topic == f"watch/{DEVICE}/AL"]
    assert len(alarms) == 2  # the first was lost before it was durable, so no AL came back: sent once more
