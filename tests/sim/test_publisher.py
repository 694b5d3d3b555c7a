"""The simulator against a real Mosquitto: an SOS arrives at once, every topic is in a known scheme."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, time
from typing import Any

import gmqtt
import pytest

from hub.clock import FrozenClock
from hub.sim.errors import SimError
from hub.sim.publisher import BrokerAddress, run_simulation
from hub.sim.routine import LOCAL_TZ
from tests.services.mosquitto import Broker, free_port

TOPIC_SCHEMES = [
    re.compile(r"zigbee2mqtt/h\d{3}_(sos|motion|door)"),
    re.compile(r"zigbee2mqtt/h\d{3}_(sos|motion|door)/availability"),
    re.compile(r"tele/h\d{3}_water/(SENSOR|LWT)"),
    re.compile(r"eldercare/h\d{3}_health/(heart_rate|spo2|bp_systolic|bp_diastolic|body_temp)"),
]


class Recorder:
    """A subscriber to `#` that keeps every message it gets."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = gmqtt.Client(f"sim-test-{id(self)}")
        self.client.on_message = self._on_message

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, properties: Any) -> int:
        self.messages.append((topic, payload, bool(properties.get("retain"))))
        return 0

    async def __aenter__(self) -> Recorder:
        return self

    async def start(self, broker: Broker) -> None:
        await self.client.connect(broker.host, broker.port)
        self.client.subscribe("#", qos=1)

    async def __aexit__(self, *exc: object) -> None:
        await self.client.disconnect()


async def test_simulation_publishes_an_early_sos_and_only_known_topics(mosquitto: Broker) -> None:
    # Start at 06:00 local at one simulated hour per second, so the run covers the homes getting up.
    start = datetime.combine(datetime(2026, 11, 28).date(), time(6), LOCAL_TZ)
    async with Recorder() as recorder:
        await recorder.start(mosquitto)
        await asyncio.sleep(0.3)  # let the subscription settle
        await run_simulation(
            mosquitto.url, 3, seed=11, speed=3600.0, sos_within=1.0, duration=3.0, clock=FrozenClock(start)
        )
        await asyncio.sleep(0.5)  # the last messages reach the subscriber

    topics = {topic for topic, _, _ in recorder.messages}
    unknown = {t for t in topics if not any(s.fullmatch(t) for s in TOPIC_SCHEMES)}
    assert unknown == set()

    sos = [json.loads(p) for t, p, _ in recorder.messages if re.fullmatch(r"zigbee2mqtt/h\d{3}_sos", t)]
    assert {"action": "emergency", "battery": None, "linkquality": 90} in sos
    assert {"action": ""} in sos

    for home in ("h001", "h002", "h003"):
        assert f"zigbee2mqtt/{home}_motion/availability" in topics
        assert f"tele/{home}_water/LWT" in topics
    assert any(t.endswith("_motion") for t in topics), "no home got up between 06:00 and 09:00"
    for topic, payload, _ in recorder.messages:
        if topic.endswith("/SENSOR"):
            assert isinstance(json.loads(payload)["COUNTER"]["C1"], int)


async def test_simulation_waits_for_a_broker_that_comes_up_late(tmp_path: Any) -> None:
    from tests.services.mosquitto import start_mosquitto

    port = free_port()
    simulation = asyncio.create_task(
        run_simulation(f"mqtt://127.0.0.1:{port}", 1, sos_within=0.5, duration=6.0, speed=60.0)
    )
    await asyncio.sleep(1.0)  # the simulator is retrying by now
    broker = start_mosquitto(tmp_path / "late", port=port)
    try:
        async with Recorder() as recorder:
            await recorder.start(broker)
            await simulation
            await asyncio.sleep(0.5)
        # The SOS pressed while the broker was down was kept and sent once it came up.
        sos = [json.loads(p) for t, p, _ in recorder.messages if t == "zigbee2mqtt/h001_sos"]
        assert {"action": "emergency", "battery": None, "linkquality": 90} in sos
    finally:
        broker.process.terminate()
        broker.process.wait(10)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1884", BrokerAddress("127.0.0.1", 1884, False)),
        ("tcp://broker", BrokerAddress("broker", 1883, False)),
        ("mqtts://broker.example", BrokerAddress("broker.example", 8883, True)),
        ("localhost:1999", BrokerAddress("localhost", 1999, False)),
    ],
)
def test_broker_url_is_read(url: str, expected: BrokerAddress) -> None:
    assert BrokerAddress.parse(url) == expected


@pytest.mark.parametrize("url", ["http://broker:80", "mqtt://:1883", "mqtt://broker:notaport"])
def test_bad_broker_url_is_refused(url: str) -> None:
    with pytest.raises(SimError, match="broker URL"):
        BrokerAddress.parse(url)
