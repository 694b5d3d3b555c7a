"""Rules engine bookkeeping at district scale: memory per home, CPU per minute, deadline-to-alert delay.

    .venv/bin/python -m bench.rules --homes 100000

1. Memory: tracemalloc around building the engine for N homes (5 devices each) and feeding each home a
   morning of readings (motion, door, water, battery, vital signs), so that the water histogram, device
   states, edge memory, vitals and heap entries are all populated.
2. CPU: the hot path (`observe`) timed over a realistic mix of readings, scaled to the hub's ingest rate
   (30,000 messages/s × 2.6 readings), plus the sweeps of simulated hours at one sweep per 30 s.
3. Delay: every home's inactivity deadline falls within one simulated hour; the sweep runs every 30 s of
   simulated time; the delay is sweep time − deadline (simulated) plus the sweep's own wall time.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.models import Reading, Signal
from hub.rules.engine import HomeProfile, RulesEngine
from hub.rules.replay import sign_capable
from hub.rules.settings import RulesConfig

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai
MSG_PER_S = 30_000
READINGS_PER_MSG = 2.6
DEVICES = (
    ("motion", "zigbee2mqtt", "RTCGQ11LM", {}),
    ("door", "zigbee2mqtt", "MCCGQ11LM", {}),
    ("water", "tasmota", "pulse_counter", {"litres_per_pulse": 1.0, "report_interval_s": 300}),
    ("sos", "zigbee2mqtt", "TS0215A_sos", {}),
    ("health", "native", "health_monitor", {}),
)


def build(homes: int) -> RulesEngine:
    """An engine for `homes` homes (30 % key targets), five devices each."""
    engine = RulesEngine(RulesConfig(), "Asia/Shanghai", sign_capable=sign_capable(DeviceRegistry.default()))
    codes = [f"H{n:06d}" for n in range(homes)]
    bindings = [
        Binding(code, f"{code}-{role}", eco, f"{code.lower()}_{role}", model, settings)
        for code in codes
        for role, eco, model, settings in DEVICES
    ]
    profiles = {
        code: HomeProfile("key" if n % 10 < 3 else "general", f"街道{n % 12}") for n, code in enumerate(codes)
    }
    engine.set_register(bindings, profiles, START)
    return engine


def morning(code: str, at: datetime) -> list[Reading]:
    """One home's readings of a morning: motion, door, water draws, a battery report, a health round."""
    r = Reading
    out = [
        r(code, f"{code}-motion", Signal.MOTION, 0.0, at),
        r(code, f"{code}-motion", Signal.MOTION, 1.0, at + timedelta(seconds=5)),
        r(code, f"{code}-motion", Signal.ILLUMINANCE, 120.0, at + timedelta(seconds=5)),
        r(code, f"{code}-motion", Signal.BATTERY, 87.0, at + timedelta(seconds=5)),
        r(code, f"{code}-door", Signal.CONTACT, 0.0, at + timedelta(seconds=10)),
        r(code, f"{code}-door", Signal.CONTACT, 1.0, at + timedelta(minutes=40)),
        r(code, f"{code}-door", Signal.CONTACT, 0.0, at + timedelta(minutes=40, seconds=8)),
        r(code, f"{code}-health", Signal.HEART_RATE, 72.0, at + timedelta(minutes=30)),
        r(code, f"{code}-health", Signal.SPO2, 97.0, at + timedelta(minutes=30)),
        r(code, f"{code}-health", Signal.BP_SYSTOLIC, 131.0, at + timedelta(minutes=30)),
    ]
    total = 1000.0
    for k in range(6):
        total += 4.0
        out.append(r(code, f"{code}-water", Signal.WATER_TOTAL, total, at + timedelta(minutes=5 * k + 2)))
    return out


def memory(homes: int) -> tuple[float, RulesEngine]:
    """Bytes per home of the engine's state after a morning of traffic."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    engine = build(homes)
    for n, code in enumerate(engine.homes):
        for reading in morning(code, START + timedelta(seconds=n % 3600)):
            engine.observe(reading)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / homes, engine


def hot_path(engine: RulesEngine, sample_homes: int = 20_000) -> float:
    """Seconds of CPU per reading in `observe`, over a mix of readings from many homes."""
    codes = list(engine.homes)[:sample_homes]
    readings = [
        rd for n, code in enumerate(codes) for rd in morning(code, START + timedelta(hours=2, seconds=n))
    ]
    readings.sort(key=lambda rd: rd.ts)
    started = time.process_time()
    for reading in readings:
        engine.observe(reading)
    return (time.process_time() - started) / len(readings)


def sweeps(engine: RulesEngine, hours: float) -> tuple[float, list[float], float]:
    """Sweep every 30 s for `hours` of simulated time; CPU s per simulated minute, delays, worst sweep wall s."""
    # Deadlines: every home's last sign so that its 12/24 h window ends within the first simulated hour.
    for n, home in enumerate(engine.homes.values()):
        window = home.th.inactivity_hours * 3600
        last = START.timestamp() + 3 * 3600 + (n % 3600) - window
        home.last_sign = home.last_inside = home.since = last
        home.alerted = 0
        engine.arm(home, START.timestamp() + 3 * 3600)
    now = START + timedelta(hours=3)
    delays: list[float] = []
    worst = 0.0
    cpu = 0.0
    steps = int(hours * 120)
    for _ in range(steps):
        now += timedelta(seconds=30)
        wall, started = time.perf_counter(), time.process_time()
        raised = engine.sweep(now)
        cpu += time.process_time() - started
        took = time.perf_counter() - wall
        worst = max(worst, took)
        for candidate in raised:
            if candidate.kind in ("inactivity", "inactivity_unknown"):
                home = engine.homes[candidate.home]
                deadline = home.last_sign + home.th.inactivity_hours * 3600
                delays.append(candidate.at.timestamp() - deadline + took)
    return cpu / (hours * 60), delays, worst


def main() -> None:
    """Run the three measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours of sweeping")
    args = parser.parse_args()
    started = time.perf_counter()
    per_home, engine = memory(args.homes)
    print(f"homes: {args.homes:,}  (built and fed in {time.perf_counter() - started:.1f} s)")
    print(f"memory per home: {per_home:,.0f} bytes (target ≤ 2,048)")
    per_reading = hot_path(engine)
    rate = MSG_PER_S * READINGS_PER_MSG
    observe_cpu = per_reading * rate * 60
    sweep_cpu, delays, worst = sweeps(engine, args.hours)
    print(f"observe: {per_reading * 1e6:.2f} µs CPU per reading")
    print(
        f"CPU per minute of wall clock at {MSG_PER_S:,} msg/s × {READINGS_PER_MSG} readings: "
        f"observe {observe_cpu:.1f} s + sweeps {sweep_cpu:.3f} s = {observe_cpu + sweep_cpu:.1f} s "
        f"({(observe_cpu + sweep_cpu) / 60:.0%} of one core)"
    )
    print(
        f"deadline → alert: {len(delays):,} inactivity alerts, median {statistics.median(delays):.1f} s, "
        f"max {max(delays):.1f} s (sweep every 30 s; slowest sweep {worst * 1000:.0f} ms wall) (target ≤ 60 s)"
    )
    print(f"heap entries: {engine.heap_size:,}")


if __name__ == "__main__":
    main()
