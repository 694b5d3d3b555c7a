"""The demo's first open: two weeks of simulated history in the store (charts) and the register (visits)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from hub.app import build_store
from hub.bootstrap import open_register
from hub.care.tables import Visit
from hub.config import parse_config
from hub.demo import HISTORY_DAYS, load_history
from hub.devices.registry import DeviceRegistry
from hub.models import Signal
from hub.register.site import load_site
from hub.sim.publisher import Simulation
from hub.sim.routine import SimHome, new_state, plan_day
from hub.sim.site import dump_site_yaml, simulated_site

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # noon in Beijing


async def test_the_demo_loads_two_weeks_of_readings_and_visits_once(tmp_path: Path) -> None:
    config = parse_config({"data_dir": str(tmp_path)})
    sessions = open_register(config)
    site = simulated_site(3, seed=1)
    (tmp_path / "site.yaml").write_text(dump_site_yaml(site), encoding="utf-8")
    with sessions.begin() as session:
        load_site(session, tmp_path / "site.yaml", devices=DeviceRegistry.default())

    simulation = Simulation(site, seed=1, start=NOW - timedelta(days=HISTORY_DAYS))
    stored = await load_history(config, sessions, simulation, NOW)
    assert stored > 0 and simulation.start == NOW  # ready to go on live from now

    async with build_store(config) as store:
        for signal in (Signal.WATER_TOTAL, Signal.MOTION, Signal.HEART_RATE, Signal.BP_SYSTOLIC):
            rows = await store.query("H001", signal, NOW - timedelta(days=HISTORY_DAYS + 1), NOW)
            days = {r.ts.date() for r in rows}
            assert len(days) >= HISTORY_DAYS, (signal, sorted(days))
            assert all(r.ts <= NOW for r in rows)
    with sessions() as session:
        visits = session.scalar(select(func.count(Visit.id))) or 0
    assert visits >= 2

    again = Simulation(site, seed=1, start=NOW - timedelta(days=HISTORY_DAYS))
    assert await load_history(config, sessions, again, NOW) == 0  # a restarted demo loads no second past
    with sessions() as session:
        assert session.scalar(select(func.count(Visit.id))) == visits


def test_a_fast_simulation_sends_health_readings_without_a_device_clock() -> None:
    # Simulated time runs ahead of the hub's: a stamped reading would be a device clock in the future.
    home = SimHome.from_site(simulated_site(1, seed=1)["homes"][0])
    state = new_state(home, random.Random(1))
    state.device_clock = False
    health = [m for m in plan_day(state, random.Random(2), NOW.date()) if m.topic.startswith("eldercare/")]
    assert health and all("ts" not in json.loads(m.payload) for m in health)
