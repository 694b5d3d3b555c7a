"""The replay's day-by-day learning (`LearnMemo`) learns night after night what the live job learns from the store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hub.devices.registry import DeviceRegistry
from hub.models import AlertCandidate, Signal
from hub.rules.engine import RulesEngine
from hub.rules.learn_memo import LearnMemo
from hub.rules.persistence import learn_all
from hub.rules.replay import Replayer, load_site_register, sign_capable
from hub.rules.settings import RulesConfig
from hub.rules.state import Baseline
from hub.sim.site import dump_site_yaml
from hub.store.memory import MemoryStore
from tests.rules.helpers import local, make_engine, reading
from tests.rules.traffic import generate


class _NoRules:
    """Replay only fills the store here."""

    def observe(self, reading: object) -> list[AlertCandidate]:
        return []

    def sweep(self, now: datetime) -> list[AlertCandidate]:
        return []

    def next_due(self) -> datetime | None:
        return None


async def _nightly(
    engine: RulesEngine, store: MemoryStore, nights: list[datetime]
) -> list[dict[str, Baseline | None]]:
    """What the live job learns each night, and what the memo learns each night, side by side."""
    memo = LearnMemo()
    pairs = []
    for night in nights:
        await learn_all(engine, store, night)
        live = {code: home.learned for code, home in engine.homes.items()}
        await learn_all(engine, store, night, memo)
        kept = {code: home.learned for code, home in engine.homes.items()}
        pairs.append((live, kept))
    return pairs


async def test_generated_weeks_learn_the_same_baselines_every_night(tmp_path: Path) -> None:
    # Past the 28-day window, so days leave it too; the hard profile has silent devices and dying batteries.
    traffic = generate(homes=4, days=36, seed=2)
    site = tmp_path / "site.yaml"
    site.write_text(dump_site_yaml(traffic.site), encoding="utf-8")
    register = load_site_register(site, tmp_path)
    store = MemoryStore()
    async with store:
        await Replayer(_NoRules(), register.bindings, emit=lambda c: None, store=store).run(traffic.lines)
        engine = RulesEngine(
            RulesConfig(), "Asia/Shanghai", sign_capable=sign_capable(DeviceRegistry.default())
        )
        engine.set_register(register.bindings, register.profiles, traffic.start)
        first = traffic.start.replace(hour=19, minute=30)  # 03:30 Asia/Shanghai
        nights = [first + timedelta(days=d) for d in range(2, traffic.days)]
        pairs = await _nightly(engine, store, nights)
    assert all(b is not None for b in pairs[-1][0].values())
    for night, (live, kept) in zip(nights, pairs, strict=True):
        assert kept == live, night


async def test_a_day_begun_with_other_device_memory_is_scanned_again() -> None:
    # The water meter is the only sign of life. While the window holds the 3rd, the 7th's total (150 after
    # the 3rd's 100) counts 50 L; once the 3rd has left the window, the 7th's total is the meter's first and
    # counts nothing, so a day kept from the night before would be wrong.
    engine = make_engine(learn_days=6)
    store = MemoryStore()
    async with store:
        totals = {3: 100.0, 7: 150.0, 8: 160.0, 9: 170.0, 10: 180.0, 11: 190.0}
        await store.write(
            [reading("H1", "water", Signal.WATER_TOTAL, v, local(d, 8)) for d, v in totals.items()]
        )
        nights = [local(day, 3, 30) for day in range(8, 13)]
        pairs = await _nightly(engine, store, nights)
    water = [(b.days, b.water_median_l) for b in (live["H1"] for live, _ in pairs) if b is not None]
    assert water[:2] == [(1, 50.0), (1, 10.0)]  # the 9th: the 7th alone; the 10th: the 8th alone
    for night, (live, kept) in zip(nights, pairs, strict=True):
        assert kept == live, night
