"""`RulesEngine`: per-home state in memory, every rule behind one interface, timers in a deadline heap.

The pipeline calls `observe(reading)` for every reading (the `RuleSink` protocol): O(1), no I/O — the engine
updates the shared bookkeeping (last sign of life, device last-seen, water histogram, the local day) and
hands the reading to the rules that listen to its signal. Timer work runs in `sweep(now)`: the heap holds at
most a few entries per home, each no later than the home's earliest deadline, so a sweep costs O(due), not
O(homes). A sign of life only moves deadlines later, so it never touches the heap: the sweep that pops the
stale entry finds the new deadline and re-arms.

All times inside are epoch seconds (UTC); local time (Asia/Shanghai by default) only decides where days and
morning checks fall.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.devices.model import Binding
from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.base import Rule
from hub.rules.calendar import Calendar
from hub.rules.device_health import DeviceHealthRule, clock_finding
from hub.rules.geofence import SafeZoneRule
from hub.rules.immediate import ImmediateEngineRule
from hub.rules.inactivity import InactivityRule, MorningCheckRule, OutingOverdueRule
from hub.rules.routine import LowWaterDayRule, QuietGapRule, RoutineLateRule
from hub.rules.settings import RulesConfig, Thresholds
from hub.rules.state import (
    LOW_WATER_DAY,
    MORNING,
    NEVER,
    ROUTINE,
    SIGN_CLEARS,
    SIGN_SIGNALS,
    SIGN_WORDS,
    SLOT_MAX,
    Baseline,
    DeviceState,
    HomeState,
    SafeZone,
)
from hub.rules.vitals import VitalSignsRule
from hub.rules.water import ContinuousFlowRule, WaterNoUseRule, water_delta

# Enum members as module constants: `Signal.X` is a class attribute lookup (~0.1 us in Python 3.11) and
# observe runs for every reading.
_AVAILABILITY = Signal.AVAILABILITY
_WATER_TOTAL = Signal.WATER_TOTAL

SIGNS_CAP = 200.0  # when a home's device sign counts pass this, they are halved: recent traffic weighs more
UNKNOWN_INTERVAL_S = 36 * 3600.0


@dataclass(frozen=True, slots=True)
class HomeProfile:
    """What the register says about a home that the rules need: the elder's tier and the street."""

    tier: str = "general"  # key = 重点对象, general = 一般对象
    street: str = ""
    # Alert kind → threshold factor for this home, raised after repeated false alarms (register table
    # rule_adjustments, read at every refresh); a rule multiplies what it waits for by `factor(kind)` and
    # never waits beyond the tier's hard window.
    factors: Mapping[str, float] = field(default_factory=dict)
    safe_zone: SafeZone | None = None  # the elder's 安全区域, for a wearable that reports positions
    # An elder of the home can answer a wellbeing call and has a phone (`hub.alerts.policy.first_step`): the
    # alerts that ask first can be checked cheaply. Without it every such alert pages a person, so the learned
    # rules ask for stronger evidence (`Thresholds.no_check_factor`) and a long outing waits for the window.
    can_check: bool = True

    def factor(self, kind: str) -> float:
        """The threshold factor of `kind` for this home (1.0 unless adjusted)."""
        return self.factors.get(kind, 1.0)


def default_rules(timezone: str) -> tuple[Rule, ...]:
    """Every rule of the hub, in the order they run."""
    return (
        ImmediateEngineRule(timezone),
        VitalSignsRule(),
        SafeZoneRule(),
        ContinuousFlowRule(),
        DeviceHealthRule(),
        RoutineLateRule(),
        QuietGapRule(),
        MorningCheckRule(),
        OutingOverdueRule(),
        InactivityRule(),
        WaterNoUseRule(),
        LowWaterDayRule(),
    )


class RulesEngine:
    """The rules engine; see the module docstring."""

    def __init__(
        self,
        config: RulesConfig,
        timezone: str = "Asia/Shanghai",
        *,
        rules: Sequence[Rule] | None = None,
        sign_capable: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.config = config
        self.tz = ZoneInfo(timezone)
        self.rules = tuple(rules if rules is not None else default_rules(timezone))
        self._by_signal: dict[Signal, tuple[Rule, ...]] = {}
        for signal in Signal:
            listening = tuple(rule for rule in self.rules if signal in rule.signals)
            if listening:
                self._by_signal[signal] = listening
        self._timed = tuple(rule for rule in self.rules if rule.timed)
        self._low_water = next((r for r in self.rules if isinstance(r, LowWaterDayRule)), None)
        self._sign_capable = sign_capable
        self.homes: dict[str, HomeState] = {}
        self._thresholds: dict[tuple[str, str, tuple[tuple[str, float], ...], bool], Thresholds] = {}
        self._heap: list[tuple[float, str]] = []
        self._shared: dict[float, float] = {}
        self._days: dict[str, tuple[float, float]] = {}  # day_start "HH:MM" → current rule day [start, end)
        self.calendar = Calendar()
        self._calendar_key: tuple[object, ...] = self.calendar.fingerprint()

    # -- register and calendar ------------------------------------------------------------------------

    def thresholds(
        self, tier: str, home: str, factors: Mapping[str, float] | None = None, *, can_check: bool = True
    ) -> Thresholds:
        """The (shared, cached) thresholds of a home, tightened by its false-alarm `factors` if any, and
        stricter where its elder cannot be asked first (`can_check` False: `Thresholds.without_check`)."""
        adjusted = tuple(sorted(factors.items())) if factors else ()
        key = (tier, home if home in self.config.homes or adjusted else "", adjusted, can_check)
        th = self._thresholds.get(key)
        if th is None:
            th = self.config.thresholds(tier, home)
            th = (th if can_check else th.without_check()).adjusted(dict(adjusted))
            self._thresholds[key] = th
        return th

    def set_register(
        self,
        bindings: Mapping[tuple[str, str], Binding] | Iterable[Binding],
        profiles: Mapping[str, HomeProfile],
        now: datetime,
    ) -> None:
        """Bring homes and devices in line with the register (call at start and after each refresh)."""
        ts = now.timestamp()
        items = bindings.values() if isinstance(bindings, Mapping) else bindings
        by_home: dict[str, list[Binding]] = {}
        for binding in items:
            by_home.setdefault(binding.home, []).append(binding)
        for code in sorted(set(profiles) | set(by_home)):
            home = self._home(code, ts)
            profile = profiles.get(code, HomeProfile())
            # Interned: 100,000 homes share a handful of tier and street strings.
            home.tier, home.street = sys.intern(profile.tier), sys.intern(profile.street)
            home.th = self.thresholds(profile.tier, code, profile.factors, can_check=profile.can_check)
            home.zone = profile.safe_zone
            bound = {b.device: b for b in by_home.get(code, ())}
            for gone in [d for d in home.devices if d not in bound]:
                del home.devices[gone]
            for binding in bound.values():
                dev = home.devices.get(binding.device)
                interval = self._interval(binding)
                if dev is None:
                    dev = home.devices[binding.device] = DeviceState(binding.device, interval, ts)
                    if self._sign_capable is not None and self._sign_capable(
                        binding.ecosystem, binding.model
                    ):
                        dev.signs = 1.0  # a prior: this device can carry signs of life
                dev.interval_s = interval

    def _interval(self, binding: Binding) -> float:
        configured = binding.settings.get("report_interval_s")
        value = (
            float(configured)
            if configured
            else self.config.report_interval_s.get(binding.ecosystem, UNKNOWN_INTERVAL_S)
        )
        return self._shared.setdefault(value, value)  # one float object per distinct interval, not per device

    def set_calendar(self, calendar: Calendar, now: datetime) -> None:
        """Use a new absence calendar / mode set; every home is looked at again if it changed."""
        self.calendar = calendar
        key = calendar.fingerprint()
        if key != self._calendar_key:
            self._calendar_key = key
            ts = now.timestamp()
            for home in self.homes.values():
                self.arm(home, ts)

    def set_baseline(self, home: str, baseline: Baseline | None) -> None:
        """What the nightly job learned for `home`."""
        state = self.homes.get(home)
        if state is not None:
            state.learned = baseline

    def _home(self, code: str, ts: float) -> HomeState:
        home = self.homes.get(code)
        if home is None:
            profile = HomeProfile()  # a home the register does not know (yet): general until the next refresh
            home = self.homes[code] = HomeState(
                code, profile.tier, profile.street, self.thresholds(profile.tier, code), ts
            )
            self.arm(home, ts)
        return home

    # -- the hot path ---------------------------------------------------------------------------------

    def observe(self, reading: Reading) -> list[AlertCandidate]:
        """`RuleSink`: update state with `reading`; the candidates it raises at once."""
        ts = reading.ts.timestamp()
        home = self.homes.get(reading.home) or self._home(reading.home, ts)
        dev = home.devices.get(reading.device)
        if dev is None:
            dev = home.devices[reading.device] = DeviceState(reading.device, UNKNOWN_INTERVAL_S, ts)
        signal = reading.signal
        dev.seen(ts)
        out: list[AlertCandidate] = []
        if reading.device_ts is not None:
            finding = clock_finding(home, dev, reading, ts, self)
            if finding is not None:
                out.append(finding)
        elif dev.clock_off_since != NEVER:
            dev.clock_off_since = NEVER
        if signal is not _AVAILABILITY:
            dev.offline_since = NEVER  # any message from the device shows it is there
            if dev.silent_alerted:
                dev.silent_alerted = False
                self.arm(home, ts)
        if signal is _WATER_TOTAL:
            litres = water_delta(dev, reading.value)
            if litres > 0:
                home.roll_slots(ts)
                slot = int(ts // 1800.0) - home.slot + len(home.slots) - 1
                if slot >= 0:
                    home.slots[slot] = min(SLOT_MAX, home.slots[slot] + round(litres * 10))
                self._sign(home, dev, signal, ts, litres, out)
        elif signal in SIGN_SIGNALS and dev.is_sign(signal, reading.value):
            self._sign(home, dev, signal, ts, 0.0, out)
        rules = self._by_signal.get(signal)
        if rules:
            for rule in rules:
                raised = rule.observe(home, reading, ts, self)
                if raised:
                    out.extend(raised)
        return out

    def _sign(
        self,
        home: HomeState,
        dev: DeviceState,
        signal: Signal,
        ts: float,
        litres: float,
        out: list[AlertCandidate],
    ) -> None:
        if ts >= home.last_sign:
            home.last_sign = ts
            home.last_sign_what = SIGN_WORDS[signal]
        if signal is Signal.CONTACT:
            if ts > home.last_door:
                home.door_gap = ts - home.last_inside
                home.last_door = ts
        else:
            home.last_inside = max(home.last_inside, ts)
        dev.signs += 1.0
        if dev.signs > SIGNS_CAP:
            for other in home.devices.values():
                other.signs *= 0.5
        if home.alerted & SIGN_CLEARS:
            home.alerted &= ~SIGN_CLEARS
            self.arm(home, ts)
        start = self.day_start(ts, home)
        if start > home.day:
            self._roll_day(home, start, out)
        if start == home.day:
            if ts < home.day_first:
                home.day_first = ts
            home.day_water += litres

    def _roll_day(self, home: HomeState, start: float, out: list[AlertCandidate]) -> None:
        if home.day >= 0 and self._low_water is not None:
            candidate = self._low_water.closed_day(home, home.day, home.day_water, self)
            if candidate is not None:
                out.append(candidate)
        home.day = start  # the cached day-start float: shared by every home, no new object
        home.day_first = NEVER
        home.day_water = 0.0
        home.alerted &= ~(MORNING | ROUTINE | LOW_WATER_DAY)

    # -- timers ---------------------------------------------------------------------------------------

    def arm(self, home: HomeState, at: float) -> None:
        """Make sure `home` is evaluated by the sweep at or after `at` (no later than its next deadline)."""
        if at < home.armed:
            home.armed = at
            heapq.heappush(self._heap, (at, home.code))

    def next_due(self) -> datetime | None:
        """When the earliest timer is due (None when nothing is armed)."""
        while self._heap:
            at, code = self._heap[0]
            home = self.homes.get(code)
            if home is not None and home.armed == at:
                return datetime.fromtimestamp(at, UTC)
            heapq.heappop(self._heap)  # stale: the home was re-armed earlier or is gone
        return None

    def sweep(self, now: datetime) -> list[AlertCandidate]:
        """Evaluate the homes whose timers are due at `now`; the candidates they raise."""
        ts = now.timestamp()
        out: list[AlertCandidate] = []
        heap = self._heap
        while heap and heap[0][0] <= ts:
            at, code = heapq.heappop(heap)
            home = self.homes.get(code)
            if home is None or home.armed != at:
                continue
            self.evaluate(home, ts, out)
        return out

    def evaluate(self, home: HomeState, ts: float, out: list[AlertCandidate]) -> None:
        """Run every timed rule on `home` at `ts` and re-arm it for the earliest next deadline."""
        home.armed = NEVER
        start = self.day_start(ts, home)
        if start > home.day:
            self._roll_day(home, start, out)
        nxt = NEVER
        for rule in self._timed:
            raised, at = rule.due(home, ts, self)
            if raised:
                out.extend(raised)
            if at < nxt:
                nxt = at
        if nxt < NEVER:
            self.arm(home, max(nxt, ts + 1.0))

    @property
    def heap_size(self) -> int:
        """Entries in the deadline heap (stale ones included)."""
        return len(self._heap)

    # -- Context for the rules ------------------------------------------------------------------------

    def local(self, ts: float, fmt: str = "%m-%d %H:%M") -> str:
        """`ts` as local text."""
        return datetime.fromtimestamp(ts, self.tz).strftime(fmt)

    def day_start(self, ts: float, home: HomeState) -> float:
        """Start of the home's rule day (beginning at `day_start` local) that contains `ts`."""
        key = home.th.day_start
        span = self._days.get(key)
        if span is not None and span[0] <= ts < span[1]:
            return span[0]
        start_t = home.th.local_time("day_start") or time(0, 0)
        local = datetime.fromtimestamp(ts, self.tz)
        day = (local - timedelta(hours=start_t.hour, minutes=start_t.minute)).date()
        start = datetime.combine(day, start_t, self.tz).timestamp()
        end = datetime.combine(day + timedelta(days=1), start_t, self.tz).timestamp()
        if span is None or start >= span[0]:
            self._days[key] = (start, end)
        return start

    def local_clock(self, day_start: float, hhmm: str) -> float:
        """Epoch s of local `hhmm` on the date of the rule day starting at `day_start`."""
        day: date = datetime.fromtimestamp(day_start, self.tz).date()
        hh, mm = hhmm.split(":")
        return datetime.combine(day, time(int(hh), int(mm)), self.tz).timestamp()

    def absent(self, home: HomeState, ts: float) -> bool:
        """Whether the calendar has the elder away at `ts`."""
        return self.calendar.absent(home.code, ts)

    def absence_end(self, home: HomeState, ts: float) -> float:
        """End of the latest absence that ended by `ts` (-inf when none)."""
        return self.calendar.last_end(home.code, ts)

    def watched_since(self, home: HomeState, ts: float) -> float:
        """Latest of last sign, the start of watching and the end of the latest absence."""
        return max(home.last_sign, home.since, self.calendar.last_end(home.code, ts))

    def factor(self, home: HomeState, ts: float) -> float:
        """Tightening factor of the modes in force for the home."""
        return self.calendar.factor(home.street, ts)

    def candidate(
        self,
        home: HomeState,
        kind: str,
        severity: Severity,
        at: float,
        explanation: str,
        *,
        device: str = "",
        alert_class: str = "elder",
        subject: str = "",
        check_first: bool = False,
    ) -> AlertCandidate:
        """An alert candidate for `home` stamped at `at`."""
        return AlertCandidate(
            home=home.code,
            kind=kind,
            severity=severity,
            at=datetime.fromtimestamp(at, UTC),
            device=device,
            explanation=explanation,
            alert_class=alert_class,
            subject=subject,
            check_first=check_first,
        )

    # -- persistence ----------------------------------------------------------------------------------

    def snapshot(self, codes: Iterable[str] | None = None) -> dict[str, dict[str, object]]:
        """Every home's state (or that of the homes `codes` names that are still watched) in compact
        JSON-able form."""
        if codes is None:
            return {code: home.to_json() for code, home in self.homes.items()}
        homes = self.homes
        return {code: homes[code].to_json() for code in codes if code in homes}

    def restore(self, code: str, data: Mapping[str, object], now: datetime) -> None:
        """Load a home's snapshot (devices from the register must be set first) and arm it."""
        home = self._home(code, now.timestamp())
        home.restore(dict(data))
        home.armed = NEVER
        self.arm(home, now.timestamp())
