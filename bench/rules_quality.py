"""Judge the rules as a district would: weeks of generated traffic with known incidents, replayed through the
engine and through two baselines, counted the way a telecare centre feels them.

    .venv/bin/python -m bench.rules_quality --homes 60 --days 28 --seeds 1 2 3 [--profile plain|hard]

Per detector: recall per incident kind; median and 95th-percentile delay from the incident to the first
*page* (an alert whose `first_step` is `elder_check` pages only after the elder-check wait, because an elder
in trouble does not press 1); false pages per 100 home-days (an elder alert that reaches a person while the
elder was fine; a check call the elder answers is not one) and elder check calls per 100 home-days, both
after learning (day 14 on); device faults reported as elder alerts and device faults detected.
`first_step` follows the shared contract: the rule's `check_first`, and the home's elders can answer the
phone (`Traffic.unable_to_answer`, ~10 % in the hard profile) and have a number.

Baselines (both also get the immediate SOS/fall/gas/smoke/leak rules, so SOS is comparable):
- fixed window: no sign of life for 12 h (key) / 24 h (general) → alert, once per silence;
- water only: less than 10 L in the last 12 h → alert, once per dry spell (Shenzhen Longgang).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import math
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.alerts.policy import first_step
from hub.alerts.settings import AlertsConfig
from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.calendar import Calendar
from hub.rules.immediate import ImmediateRules
from hub.rules.replay import Replayer, SiteRegister, load_site_register, replay_with_engine
from hub.rules.state import NEVER, DeviceState
from hub.rules.water import water_delta
from hub.sim.routine import LOCAL_TZ
from hub.sim.site import dump_site_yaml
from tests.rules.traffic import INCIDENT_KINDS, PROFILES, REPAIR_FAULTS, Traffic, generate

MATCH = {
    "collapse_day": None,  # any elder-class alert of the home counts
    "collapse_night": None,
    "collapse_door": None,
    "tap_open": {"continuous_flow", "leak"},
    "sos": {"sos"},
}
HORIZON = timedelta(hours=36)  # an alert this long after an incident began still catches it
INCIDENT_TAIL = timedelta(hours=2)
LEARNED_AFTER = timedelta(days=14)  # `routine_min_days`: false pages and checks count from here
DEFAULT_CHECK_WAIT_S = 600.0
CAUSE_LOOKBACK = timedelta(hours=24)  # a false page is put down to the ordinary-life episode just before it


def elder_check_wait_s() -> float:
    """How long an elder check waits for the "1" before paging: `alerts.elder_check_wait_s` of the hub's
    default config, 600 s while the hub has no such key."""
    return float(getattr(AlertsConfig(), "elder_check_wait_s", DEFAULT_CHECK_WAIT_S))


def calendar_of(traffic: Traffic) -> Calendar:
    """The announced absences as the engine's calendar holds them."""
    return Calendar((a.home, a.start.timestamp(), a.end.timestamp()) for a in traffic.announced)


def home_first_steps(traffic: Traffic) -> dict[str, tuple[bool, bool]]:
    """Per home: (its elders can answer the phone, they have a number)."""
    out = {}
    for home in traffic.site["homes"]:
        elders = home.get("elders", [])
        can = home["code"] not in traffic.unable_to_answer and all(
            e.get("can_answer_phone", True) for e in elders
        )
        out[home["code"]] = (can, any(e.get("phone") for e in elders))
    return out


class _Baseline:
    """Shared bookkeeping of the baselines: sign detection like the engine's, one timer per home."""

    def __init__(self, tiers: dict[str, str], calendar: Calendar | None = None) -> None:
        self.tiers = tiers
        self.calendar = calendar or Calendar()
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

    def away_until(self, home: str, ts: float) -> float | None:
        """The end of the announced absence `home` is in at `ts` (None: not away); a baseline honours the
        calendar too, as an operator would, and starts its clock again from the absence's end."""
        ends = [end for start, end in self.calendar.absences.get(home, ()) if start <= ts < end]
        return max(ends) if ends else None


class FixedWindow(_Baseline):
    """No sign of life for 12 h (key) / 24 h (general)."""

    def __init__(self, tiers: dict[str, str], calendar: Calendar | None = None) -> None:
        super().__init__(tiers, calendar)
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
        away = self.away_until(home, ts)
        if away is not None:
            self.arm(home, away)
            return
        since = max(self.last[home], self.calendar.last_end(home, ts))
        deadline = since + (12 if self.tiers.get(home) == "key" else 24) * 3600.0
        if ts < deadline:
            self.arm(home, deadline)
            return
        self.alerted.add(home)
        out.append(_cand(home, "inactivity", ts))


class WaterOnly(_Baseline):
    """Less than 10 L in the last 12 h."""

    def __init__(self, tiers: dict[str, str], calendar: Calendar | None = None) -> None:
        super().__init__(tiers, calendar)
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
        away = self.away_until(home, ts)
        if away is not None:
            self.arm(home, away)
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
        deadline = max(mark, self.calendar.last_end(home, ts)) + 12 * 3600
        if ts < deadline:
            self.arm(home, deadline)
            return
        self.alerted.add(home)
        out.append(_cand(home, "water_no_use", ts))


def _cand(home: str, kind: str, ts: float) -> AlertCandidate:
    return AlertCandidate(home, kind, Severity.URGENT, datetime.fromtimestamp(ts, UTC), "", "baseline")


def _p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def _cause(traffic: Traffic, alert: AlertCandidate) -> str:
    """The ordinary-life episode (or announced absence) of the home just before a false page, else "none"."""
    best: tuple[datetime, str] | None = None
    spans = [(e.start, e.end, e.kind) for e in traffic.episodes if e.home == alert.home]
    spans += [(a.start, a.end, "announced_absence") for a in traffic.announced if a.home == alert.home]
    for start, end, kind in spans:
        if start <= alert.at and end >= alert.at - CAUSE_LOOKBACK and (best is None or start > best[0]):
            best = (start, kind)
    return best[1] if best else "none"


def score(traffic: Traffic, alerts: list[AlertCandidate], wait_s: float | None = None) -> dict[str, Any]:
    """The figures of one detector on one population (see the module docstring)."""
    wait = timedelta(seconds=elder_check_wait_s() if wait_s is None else wait_s)
    phones = home_first_steps(traffic)

    def step(a: AlertCandidate) -> str:
        can, has = phones.get(a.home, (True, True))
        return first_step(a.check_first, can, has)

    elder = [
        a for a in alerts if a.alert_class == "elder" and a.severity is not Severity.INFO and not a.cancel
    ]
    steps = [step(a) for a in elder]
    # When a person is paged: at once, or after an elder check nobody answered.
    paged_at = [a.at + wait if s == "elder_check" else a.at for a, s in zip(elder, steps, strict=True)]
    used: set[int] = set()
    recall: dict[str, list[bool]] = defaultdict(list)
    delays: dict[str, list[float]] = defaultdict(list)
    for inc in traffic.incidents:
        wanted = MATCH[inc.kind]
        hits = [
            paged_at[i]
            for i, a in enumerate(elder)
            if a.home == inc.home
            and inc.at <= a.at <= inc.at + HORIZON
            and (wanted is None or a.kind in wanted)
        ]
        # Every alert of the home while the incident lasts (and 2 h on) is part of it, the first page counts;
        # after an SOS answered within the hour or a tap closed, the elder is fine again and alarms are false.
        for i, a in enumerate(elder):
            if a.home == inc.home and inc.at <= a.at <= inc.end + INCIDENT_TAIL:
                used.add(i)
        recall[inc.kind].append(bool(hits))
        if hits:
            delays[inc.kind].append((min(hits) - inc.at).total_seconds() / 3600)
    fine = [i for i in range(len(elder)) if i not in used]  # raised while the elder was fine
    learned = traffic.start + LEARNED_AFTER
    false_pages = [elder[i] for i in fine if steps[i] == "page" and elder[i].at >= learned]
    checks = [a for a, s in zip(elder, steps, strict=True) if s == "elder_check" and a.at >= learned]
    misreported = {
        id(f): f
        for f in traffic.faults
        for i in fine
        if elder[i].home == f.home and f.start <= elder[i].at <= f.end
    }
    repair = [f for f in traffic.faults if f.kind in REPAIR_FAULTS]
    detected = [
        f
        for f in repair
        if any(a.alert_class == "device" and a.home == f.home and f.start <= a.at <= f.end for a in alerts)
    ]
    home_days = len(traffic.site["homes"]) * max(1, traffic.days - LEARNED_AFTER.days)
    all_delays = [d for ds in delays.values() for d in ds]
    night = [a for a in false_pages if not 4 <= a.at.astimezone(LOCAL_TZ).hour < 22]
    return {
        "recall": {k: (sum(v) / len(v) if v else None) for k, v in sorted(recall.items())},
        "delay_h": {k: statistics.median(v) for k, v in sorted(delays.items()) if v},
        "median_delay_h": statistics.median(all_delays) if all_delays else None,
        "p95_delay_h": _p95(all_delays),
        "false_pages_per_100_home_days": 100 * len(false_pages) / home_days,
        "checks_per_100_home_days": 100 * len(checks) / home_days,
        "false_pages": dict(sorted(_count(f"{a.kind}←{_cause(traffic, a)}" for a in false_pages).items())),
        "checks": dict(sorted(_count(f"{a.kind}←{_cause(traffic, a)}" for a in checks).items())),
        "false_pages_22_04_local": len(night),
        "faults_misreported": len(misreported),
        "faults_detected": len(detected),
        "faults": len(traffic.faults),
        "repair_faults": len(repair),
        "notices": sum(
            1
            for a in alerts
            if a.alert_class == "notice" or (a.alert_class == "elder" and a.severity is Severity.INFO)
        ),
        "device_alerts": sum(1 for a in alerts if a.alert_class == "device"),
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for item in items:
        out[item] += 1
    return out


class _Panel:
    """Several baselines on one decoding pass (decoding is most of a replay's cost); each keeps its alerts."""

    def __init__(self, members: dict[str, Any]) -> None:
        self.members = members
        self.alerts: dict[str, list[AlertCandidate]] = {name: [] for name in members}

    def observe(self, reading: Reading) -> list[AlertCandidate]:
        for name, rules in self.members.items():
            self.alerts[name] += rules.observe(reading)
        return []

    def sweep(self, now: datetime) -> list[AlertCandidate]:
        for name, rules in self.members.items():
            self.alerts[name] += rules.sweep(now)
        return []

    def next_due(self) -> datetime | None:
        due = [d for d in (rules.next_due() for rules in self.members.values()) if d is not None]
        return min(due, default=None)


async def _run_baselines(
    traffic: Traffic, register: SiteRegister, makers: dict[str, Callable[[dict[str, str], Calendar], Any]]
) -> dict[str, list[AlertCandidate]]:
    panel = _Panel({name: make(traffic.tiers, calendar_of(traffic)) for name, make in makers.items()})
    replayer = Replayer(panel, register.bindings, emit=lambda _: None)
    await replayer.run(traffic.lines, until=traffic.start + timedelta(days=traffic.days))
    return panel.alerts


async def evaluate(homes: int, days: int, seed: int, profile: str = "hard") -> dict[str, dict[str, Any]]:
    """Generate, replay through the engine (with the announced absences) and both baselines, score."""
    traffic = generate(homes, days, seed, profile=profile)
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
            emit=engine_alerts.append,
            calendar=calendar_of(traffic),
            until=traffic.start + timedelta(days=days),
        )
        engine_s = time.perf_counter() - started
        baselines = await _run_baselines(
            traffic, register, {"fixed_12h_24h": FixedWindow, "water_10L_12h": WaterOnly}
        )
    result = {"hub": score(traffic, engine_alerts)}
    result.update({name: score(traffic, alerts) for name, alerts in baselines.items()})
    result["hub"]["replay_s"] = round(engine_s, 1)
    result["hub"]["lines"] = len(traffic.lines)
    return result


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summarise(runs: list[dict[str, dict[str, Any]]]) -> list[str]:
    """The table of medians over seeds, one row per detector."""
    kinds = [k for k in INCIDENT_KINDS if any(k in r["hub"]["recall"] for r in runs)]
    head = (
        f"{'detector':15} "
        + " ".join(f"{k:>16}" for k in kinds)
        + "  median/p95 delay h  false pages  checks  faults as elder  faults detected  notices"
    )
    rows = [head]
    for name in runs[0]:
        cells = []
        for k in kinds:
            rec = _median([r[name]["recall"][k] for r in runs if r[name]["recall"].get(k) is not None])
            delay = _median([r[name]["delay_h"][k] for r in runs if k in r[name]["delay_h"]])
            cells.append(f"{_fmt(rec, 2)} ({_fmt(delay, 1)} h)".rjust(16))
        med = _median([r[name]["median_delay_h"] for r in runs if r[name]["median_delay_h"] is not None])
        p95 = _median([r[name]["p95_delay_h"] for r in runs if r[name]["p95_delay_h"] is not None])
        false = _median([r[name]["false_pages_per_100_home_days"] for r in runs])
        checks = _median([r[name]["checks_per_100_home_days"] for r in runs])
        mis = _median([r[name]["faults_misreported"] for r in runs])
        det = _median([r[name]["faults_detected"] for r in runs])
        faults = _median([r[name]["faults"] for r in runs])
        repair = _median([r[name]["repair_faults"] for r in runs])
        notices = _median([r[name]["notices"] for r in runs])
        rows.append(
            f"{name:15} "
            + " ".join(cells)
            + f"  {_fmt(med):>8} / {_fmt(p95):<8} {_fmt(false):>11} {_fmt(checks):>7}"
            + f"  {_fmt(mis, 0):>7} / {_fmt(faults, 0):<7} {_fmt(det, 0):>7} / {_fmt(repair, 0):<7}"
            + f" {_fmt(notices, 0):>7}"
        )
    return rows


def main() -> None:
    """Run several seeds and print the per-seed figures and their medians."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--homes", type=int, default=60)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="hard",
        help="plain: the traffic before issue 11 (default: hard)",
    )
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:
        result = asyncio.run(evaluate(args.homes, args.days, seed, args.profile))
        runs.append(result)
        print(f"seed {seed}:")
        for name, figures in result.items():
            print(f"  {name:15} {figures}")
    print(
        f"\nmedian over seeds {args.seeds} ({args.profile} profile, {args.homes} homes × {args.days} days each; "
        f"recall (median delay); false pages and elder check calls per 100 home-days after day "
        f"{LEARNED_AFTER.days}; elder-check wait {elder_check_wait_s():.0f} s):"
    )
    for row in summarise(runs):
        print("  " + row)


if __name__ == "__main__":
    main()
