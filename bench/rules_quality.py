"""Judge the rules as a district would: weeks of generated traffic with known incidents, replayed through the
engine and through two baselines; recall per incident kind, median delay, false elder-class alerts per 100
home-days, device faults misreported as elder alerts.

    .venv/bin/python -m bench.rules_quality --homes 60 --days 28 --seeds 1 2 3

Baselines (both also get the immediate SOS/fall/gas/smoke/leak rules, so SOS is comparable):
- fixed window: no sign of life for 12 h (key) / 24 h (general) → alert, once per silence;
- water only: less than 10 L in the last 12 h → alert, once per dry spell (Shenzhen Longgang).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.immediate import ImmediateRules
from hub.rules.replay import Replayer, SiteRegister, load_site_register, replay_with_engine
from hub.rules.state import NEVER, DeviceState
from hub.rules.water import water_delta
from hub.sim.site import dump_site_yaml
from tests.rules.traffic import INCIDENT_KINDS, Traffic, generate

MATCH = {
    "collapse_day": None,  # any elder-class alert of the home counts
    "collapse_night": None,
    "tap_open": {"continuous_flow", "leak"},
    "sos": {"sos"},
}
HORIZON = timedelta(hours=36)


class _Baseline:
    """Shared bookkeeping of the baselines: sign detection like the engine's, one timer per home."""

    def __init__(self, tiers: dict[str, str]) -> None:
        self.tiers = tiers
        self.devices: dict[str, DeviceState] = {}
        self.immediate = ImmediateRules()
        self.heap: list[tuple[float, str]] = []
        self.armed: dict[str, float] = {}

    def dev(self, r: Reading) -> DeviceState:
        d = self.devices.get(r.device)
        if d is None:
            d = self.devices[r.device] = DeviceState(r.device, 0, 0)
        return d

    def arm(self, home: str, at: float) -> None:
        if at < self.armed.get(home, NEVER):
            self.armed[home] = at
            heapq.heappush(self.heap, (at, home))

    def next_due(self) -> datetime | None:
        while self.heap:
            at, home = self.heap[0]
            if self.armed.get(home) == at:
                return datetime.fromtimestamp(at, UTC)
            heapq.heappop(self.heap)
        return None

    def sweep(self, now: datetime) -> list[AlertCandidate]:
        ts = now.timestamp()
        out: list[AlertCandidate] = []
        while self.heap and self.heap[0][0] <= ts:
            at, home = heapq.heappop(self.heap)
            if self.armed.get(home) != at:
                continue
            del self.armed[home]
            self.due(home, ts, out)
        return out

    def due(self, home: str, ts: float, out: list[AlertCandidate]) -> None:
        raise NotImplementedError


class FixedWindow(_Baseline):
    """No sign of life for 12 h (key) / 24 h (general)."""

    def __init__(self, tiers: dict[str, str]) -> None:
        super().__init__(tiers)
        self.last: dict[str, float] = {}
        self.alerted: set[str] = set()

    def observe(self, r: Reading) -> list[AlertCandidate]:
        out = [c for c in [self.immediate.evaluate(r)] if c is not None]
        d = self.dev(r)
        ts = r.ts.timestamp()
        if r.home not in self.last:
            self.last[r.home] = ts
            self.arm(r.home, ts)
        sign = water_delta(d, r.value) > 0 if r.signal is Signal.WATER_TOTAL else d.is_sign(r.signal, r.value)
        if sign:
            self.last[r.home] = max(self.last[r.home], ts)
            if r.home in self.alerted:
                self.alerted.discard(r.home)
                self.arm(r.home, ts)
        return out

    def due(self, home: str, ts: float, out: list[AlertCandidate]) -> None:
        if home in self.alerted:
            return
        deadline = self.last[home] + (12 if self.tiers.get(home) == "key" else 24) * 3600.0
        if ts < deadline:
            self.arm(home, deadline)
            return
        self.alerted.add(home)
        out.append(_cand(home, "inactivity", ts))


class WaterOnly(_Baseline):
    """Less than 10 L in the last 12 h."""

    def __init__(self, tiers: dict[str, str]) -> None:
        super().__init__(tiers)
        self.uses: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.alerted: set[str] = set()
        self.first: dict[str, float] = {}

    def observe(self, r: Reading) -> list[AlertCandidate]:
        out = [c for c in [self.immediate.evaluate(r)] if c is not None]
        ts = r.ts.timestamp()
        if r.home not in self.first:
            self.first[r.home] = ts
            self.arm(r.home, ts + 12 * 3600)
        if r.signal is Signal.WATER_TOTAL:
            litres = water_delta(self.dev(r), r.value)
            if litres > 0:
                uses = self.uses[r.home]
                uses.append((ts, litres))
                while uses and uses[0][0] < ts - 12 * 3600:
                    uses.pop(0)
                if r.home in self.alerted and sum(x for _, x in uses) >= 10:
                    self.alerted.discard(r.home)
                self.arm(r.home, ts)
        return out

    def due(self, home: str, ts: float, out: list[AlertCandidate]) -> None:
        if home in self.alerted:
            return
        uses = [u for u in self.uses[home] if u[0] >= ts - 12 * 3600]
        self.uses[home] = uses
        total, mark = 0.0, self.first[home]
        for at, litres in reversed(uses):
            total += litres
            if total >= 10:
                mark = max(mark, at)
                break
        else:
            mark = self.first[home]
        deadline = mark + 12 * 3600
        if ts < deadline:
            self.arm(home, deadline)
            return
        self.alerted.add(home)
        out.append(_cand(home, "water_no_use", ts))


def _cand(home: str, kind: str, ts: float) -> AlertCandidate:
    return AlertCandidate(home, kind, Severity.URGENT, datetime.fromtimestamp(ts, UTC), "", "baseline")


def score(traffic: Traffic, alerts: list[AlertCandidate]) -> dict[str, Any]:
    """Recall per incident kind, median delay (h), false elder alerts per 100 home-days, faults misreported."""
    elder = [
        a for a in alerts if a.alert_class == "elder" and a.severity is not Severity.INFO and not a.cancel
    ]
    used: set[int] = set()
    recall: dict[str, list[bool]] = defaultdict(list)
    delays: dict[str, list[float]] = defaultdict(list)
    for inc in traffic.incidents:
        wanted = MATCH[inc.kind]
        hit = None
        for i, a in enumerate(elder):
            if (
                a.home == inc.home
                and inc.at <= a.at <= inc.at + HORIZON
                and (wanted is None or a.kind in wanted)
            ):
                hit = hit if hit is not None and elder[hit].at <= a.at else i
        # Every alert of the home during the incident is part of it (not false), the first one counts.
        for i, a in enumerate(elder):
            if a.home == inc.home and inc.at <= a.at <= max(inc.end, inc.at + HORIZON) + timedelta(hours=2):
                used.add(i)
        recall[inc.kind].append(hit is not None)
        if hit is not None:
            delays[inc.kind].append((elder[hit].at - inc.at).total_seconds() / 3600)
    false = [a for i, a in enumerate(elder) if i not in used]
    misreported = [
        a for a in false if any(f.home == a.home and f.start <= a.at <= f.end for f in traffic.faults)
    ]
    home_days = len(traffic.site["homes"]) * traffic.days
    all_delays = [d for ds in delays.values() for d in ds]
    return {
        "recall": {k: (sum(v) / len(v) if v else None) for k, v in sorted(recall.items())},
        "delay_h": {k: statistics.median(v) for k, v in sorted(delays.items()) if v},
        "median_delay_h": statistics.median(all_delays) if all_delays else None,
        "false_per_100_home_days": 100 * len(false) / home_days,
        "false_kinds": dict(sorted(_count(a.kind for a in false).items())),
        "faults_misreported": len(misreported),
        "info_alerts": sum(1 for a in alerts if a.alert_class == "elder" and a.severity is Severity.INFO),
        "device_alerts": sum(1 for a in alerts if a.alert_class == "device"),
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for item in items:
        out[item] += 1
    return out


async def _run_baseline(
    traffic: Traffic, register: SiteRegister, make: Callable[[dict[str, str]], Any]
) -> list[AlertCandidate]:
    alerts: list[AlertCandidate] = []
    replayer = Replayer(make(traffic.tiers), register.bindings, emit=alerts.append)
    await replayer.run(traffic.lines, until=traffic.start + timedelta(days=traffic.days))
    return alerts


async def evaluate(homes: int, days: int, seed: int) -> dict[str, dict[str, Any]]:
    """Generate, replay through the engine and both baselines, score."""
    traffic = generate(homes, days, seed)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        site = scratch / "site.yaml"
        site.write_text(dump_site_yaml(traffic.site), encoding="utf-8")
        register = load_site_register(site, scratch)
        engine_alerts: list[AlertCandidate] = []
        started = time.perf_counter()
        await replay_with_engine(
            traffic.lines,
            register,
            scratch,
            emit=engine_alerts.append,
            until=traffic.start + timedelta(days=days),
        )
        engine_s = time.perf_counter() - started
        fixed = await _run_baseline(traffic, register, FixedWindow)
        water = await _run_baseline(traffic, register, WaterOnly)
    result = {
        "hub": score(traffic, engine_alerts),
        "fixed_12h_24h": score(traffic, fixed),
        "water_10L_12h": score(traffic, water),
    }
    result["hub"]["replay_s"] = round(engine_s, 1)
    result["hub"]["lines"] = len(traffic.lines)
    return result


def main() -> None:
    """Run several seeds and print the per-seed figures and their medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homes", type=int, default=60)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:
        result = asyncio.run(evaluate(args.homes, args.days, seed))
        runs.append(result)
        print(f"seed {seed}:")
        for name, figures in result.items():
            print(f"  {name:15} {figures}")
    print(f"\nmedian over seeds {args.seeds} ({args.homes} homes × {args.days} days each):")
    for name in runs[0]:
        rec = {k: statistics.median(r[name]["recall"][k] or 0 for r in runs) for k in INCIDENT_KINDS}
        delays = [r[name]["median_delay_h"] for r in runs if r[name]["median_delay_h"] is not None]
        kind_delay = {
            k: round(statistics.median(r[name]["delay_h"][k] for r in runs if k in r[name]["delay_h"]), 2)
            for k in INCIDENT_KINDS
            if any(k in r[name]["delay_h"] for r in runs)
        }
        false = statistics.median(r[name]["false_per_100_home_days"] for r in runs)
        mis = statistics.median(r[name]["faults_misreported"] for r in runs)
        print(
            f"  {name:15} recall {rec}  median delay {statistics.median(delays) if delays else None:.2f} h "
            f"{kind_delay}  false/100 home-days {false:.2f}  faults misreported {mis}"
        )


if __name__ == "__main__":
    main()
