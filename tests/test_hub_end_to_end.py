"""The whole hub in-process against real services: Mosquitto → hub → InfluxDB, and a serial meter → hub."""

from __future__ import annotations

import asyncio
import json
import os
import tty
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gmqtt
import pytest

from hub.app import RunningHub, run_hub
from hub.config import parse_config
from hub.models import Signal
from hub.store import InfluxStore
from tests.services.mosquitto import Broker, free_port
from tests.site_fixture import make_site
from tests.sources.test_serial_cjt188 import Meter, reply


@pytest.fixture
async def hub_on(tmp_path: Path) -> AsyncIterator[Any]:
    """Start `run_hub` with extra config; yields a starter returning the RunningHub."""
    tasks: list[asyncio.Task[None]] = []

    async def start(extra: dict[str, Any]) -> RunningHub:
        make_site(tmp_path)
        config = parse_config({"data_dir": str(tmp_path), "http": {"port": free_port()}, **extra})
        started: asyncio.Future[RunningHub] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_hub(config, started=started))
        tasks.append(task)
        done, _ = await asyncio.wait({task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        return started.result()

    yield start
    for task in tasks:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _eventually(check: Any, within_s: float = 20.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_readings_from_mosquitto_land_in_influxdb(
    hub_on: Any, quiet_mosquitto: Broker, influxdb_url: str, tmp_path: Path
) -> None:
    database = f"e2e_{uuid.uuid4().hex[:8]}"
    hub = await hub_on(
        {
            "mqtt": {"url": quiet_mosquitto.url, "client_id": f"hub-e2e-{uuid.uuid4().hex[:6]}"},
            "store": {"kind": "influxdb", "url": influxdb_url, "database": database},
        }
    )
    pub = gmqtt.Client(f"e2e-pub-{uuid.uuid4().hex[:6]}")
    await pub.connect(quiet_mosquitto.host, quiet_mosquitto.port)
    for c1 in (100, 130, 4):  # a Tasmota counter that restarts after a power cut
        pub.publish("tele/h001_water/SENSOR", json.dumps({"COUNTER": {"C1": c1}}), qos=1)
        await asyncio.sleep(0.05)
    pub.publish("zigbee2mqtt/h001_motion", json.dumps({"occupancy": True, "linkquality": 60}), qos=1)
    await pub.disconnect()

    async with InfluxStore(influxdb_url, database, spool_dir=tmp_path / "reader-spool") as reader:
        now = datetime.now(UTC)

        async def water() -> list[float]:
            rows = await reader.query(
                "H001", Signal.WATER_TOTAL, now - timedelta(hours=1), now + timedelta(hours=1)
            )
            return [r.value for r in rows] if len(rows) == 3 else []

        assert await _eventually(water) == [100.0, 130.0, 134.0]  # never backwards, no huge jump

        async def motion() -> list[float]:
            rows = await reader.query(
                "H001", Signal.MOTION, now - timedelta(hours=1), now + timedelta(hours=1)
            )
            return [r.value for r in rows]

        assert await _eventually(motion) == [1.0]
    assert hub.pipeline.failed is None


async def test_serial_meter_readings_flow_through_the_hub(hub_on: Any, tmp_path: Path) -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    meter = Meter(master, [reply("10 00 10 00"), reply("10 00 10 00", bad_checksum=True)] * 20)
    meter.start()
    try:
        site = tmp_path / "site.yaml"
        make_site(tmp_path)
        site.write_text(
            site.read_text(encoding="utf-8").replace(
                "      - {code: H002-sos,",
                '      - {code: H002-meter, ecosystem: cjt188, external_id: "00000000000012", model: water_meter}\n'
                "      - {code: H002-sos,",
            ),
            encoding="utf-8",
        )
        from hub.devices.registry import DeviceRegistry
        from hub.register.db import make_engine, session_factory
        from hub.register.site import load_site

        sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'register.sqlite'}"))
        with sessions.begin() as session:
            load_site(session, site, devices=DeviceRegistry.default())
        hub = await hub_on(
            {
                "mqtt": {"url": "", "embedded_port": 0},
                "serial": [{"url": os.ttyname(slave), "addresses": ["00000000000012"], "interval_s": 0.2}],
            }
        )

        async def stored() -> bool:
            latest = await hub.store.latest("H002")
            return any(r.signal is Signal.WATER_TOTAL and r.value == 1_000_100.0 for r in latest)

        assert await _eventually(stored), "the meter's 1000.10 m³ never reached the store"

        def quarantined() -> list[str]:
            from hub.ingest.quarantine import list_quarantine

            with hub.sessions() as session:
                return [q["reason"] for q in list_quarantine(session) if q["source"] == "serial"]

        async def bad_frame_kept() -> list[str]:
            return await asyncio.to_thread(quarantined)

        reasons = await _eventually(bad_frame_kept)
        assert reasons and "checksum" in reasons[0].lower()
    finally:
        meter.stopping.set()
        os.close(slave)
