"""Small builders for frozen-clock rule scenarios: an engine with one or two homes, readings at local times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.devices.model import Binding
from hub.models import AlertCandidate, Reading, Signal
from hub.rules.engine import HomeProfile, RulesEngine
from hub.rules.settings import RulesConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2026-03-02 00:00 Asia/Shanghai is 2026-03-01 16:00 UTC.
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=SHANGHAI).astimezone(UTC)

DEVICES = (
    ("motion", "zigbee2mqtt", "RTCGQ11LM", {}),
    ("door", "zigbee2mqtt", "MCCGQ11LM", {}),
    ("water", "tasmota", "pulse_counter", {"litres_per_pulse": 1.0, "report_interval_s": 7 * 86400}),
    ("sos", "zigbee2mqtt", "TS0215A_sos", {}),
    ("health", "native", "health_monitor", {}),
)


def local(day: int, hh: int, mm: int = 0) -> datetime:
    """Aware UTC time of local Asia/Shanghai `hh:mm` on 2026-03-`day`."""
    return datetime(2026, 3, day, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


def make_engine(
    tier: str = "key", *, codes: tuple[str, ...] = ("H1",), at: datetime = T0, **config: Any
) -> RulesEngine:
    """An engine watching `codes` (all of `tier`) with the standard five devices each, started at `at`."""
    engine = RulesEngine(
        RulesConfig.model_validate(config),
        "Asia/Shanghai",
        sign_capable=lambda eco, model: model != "health_monitor",
    )
    bindings = [
        Binding(home, f"{home}-{role}", eco, f"{home.lower()}_{role}", model, settings)
        for home in codes
        for role, eco, model, settings in DEVICES
    ]
    engine.set_register(bindings, {home: HomeProfile(tier, "双龙湖街道") for home in codes}, at)
    return engine


def checkins(engine: RulesEngine, start: datetime, end: datetime, home: str = "H1") -> None:
    """Every device of `home` reports its battery every 6 h (a check-in that is no sign of life)."""
    at = start
    while at < end:
        for role, *_ in DEVICES:
            engine.observe(reading(home, role, Signal.BATTERY, 90.0, at))
        at += timedelta(hours=6)


def reading(home: str, role: str, signal: Signal, value: float, at: datetime) -> Reading:
    """A reading of `home`'s device `role`."""
    return Reading(home, f"{home}-{role}", signal, value, at)


def motion(engine: RulesEngine, at: datetime, home: str = "H1") -> list[AlertCandidate]:
    """A motion event (on, then the clear 90 s later) as Zigbee2MQTT reports it."""
    out = engine.observe(reading(home, "motion", Signal.MOTION, 0.0, at - timedelta(seconds=1)))
    out += engine.observe(reading(home, "motion", Signal.MOTION, 1.0, at))
    return out


def sweep_until(
    engine: RulesEngine, end: datetime, step: timedelta = timedelta(seconds=30)
) -> list[AlertCandidate]:
    """Sweep every `step` from the engine's next due time up to `end` (as the scheduler would)."""
    out: list[AlertCandidate] = []
    while True:
        due = engine.next_due()
        if due is None or due > end:
            return out
        tick = datetime.fromtimestamp(-(-due.timestamp() // step.total_seconds()) * step.total_seconds(), UTC)
        if tick > end:
            return out
        out += engine.sweep(tick)


def feed(engine: RulesEngine, readings: list[Reading]) -> list[AlertCandidate]:
    """Observe `readings` in order, sweeping up to each one's time first (as production interleaves them)."""
    out: list[AlertCandidate] = []
    for r in readings:
        out += sweep_until(engine, r.ts)
        out += engine.observe(r)
    return out


def kinds(candidates: list[AlertCandidate]) -> list[str]:
    """The kinds, in order."""
    return [c.kind for c in candidates]
