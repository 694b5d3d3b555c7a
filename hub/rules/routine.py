"""Learned routine: the nightly job learns each home's usual day; the rules flag a day that is improbable.

`learn_baseline` is pure: it reads a home's readings of the last weeks (from the time series, SQLite or
InfluxQL alike) and finds, per local day, the first and last sign of life, the water volume and the longest
quiet spell while awake. Medians and robust spreads of those become the home's `Baseline`; the rules stay
silent until `routine_min_days` days of history are behind it.

- `RoutineLateRule`: no sign by the usual first-activity time + k spreads ("通常 06:40±20 分钟首次活动…").
- `QuietGapRule`: awake and then silent much longer than the longest usual quiet spell of the day.
- `LowWaterDayRule`: yesterday's water volume far below the usual (info, for the visitor's next call).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.base import Context, TimerRule, clock_text, hours_text
from hub.rules.inactivity import left_by_door, seems_away
from hub.rules.settings import Thresholds
from hub.rules.state import (
    INACTIVE,
    LOW_WATER_DAY,
    MORNING,
    NEVER,
    OUTING_SCALE,
    QUIET,
    QUIET_BLOCK_H,
    QUIET_SCALE,
    RATE_SCALE,
    ROUTINE,
    SIGN_SIGNALS,
    UNKNOWN,
    Baseline,
    DeviceState,
    HomeState,
)

MAD_SCALE = 1.4826  # MAD → standard deviation for normally distributed data


def _robust(values: list[float], floor: float) -> tuple[float, float]:
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    return median, max(mad * MAD_SCALE, floor)


def learn_baseline(
    readings: Iterable[Reading], tz: ZoneInfo, th: Thresholds, today: datetime
) -> Baseline | None:
    """The baseline of one home from its readings (oldest first); None without a single complete day.

    Days are local days starting at `th.day_start`; the day containing `today` is incomplete and skipped.
    """
    days = SignDays(tz, th, today)
    days.scan(readings, {})
    return days.baseline()


class SignDays:
    """Per local day of one home: the first and last sign of life, water, longest quiet spell, every sign.

    `scan` takes readings in time order and carries each device's edge memory in the `devices` it is given,
    so the nightly job can scan a window at once or day by day (`hub.rules.learn_memo`) with the same result.
    """

    def __init__(self, tz: ZoneInfo, th: Thresholds, today: datetime) -> None:
        start_t = th.local_time("day_start")
        assert start_t is not None  # validated: day_start is never empty
        self.th = th
        self.day_start_min = start_t.hour * 60 + start_t.minute
        # The nightly job runs this over weeks of readings for every home, so the scan works in local seconds
        # since the epoch and day numbers rather than in aware datetimes and dates.
        self.offset_s = self.day_start_min * 60
        self.local_s = LocalSeconds(tz)
        self.current = self.day_of(today)  # the incomplete day: skipped
        self.entries: dict[int, list[float]] = {}  # day → [first, last, water L, max gap, previous, at door]
        self.marks: dict[int, list[tuple[float, bool]]] = {}  # day → every sign: (local minute, at the door)

    def day_of(self, ts: datetime) -> int:
        """The number of the local day (starting at `day_start`) that `ts` falls in."""
        return int((self.local_s(ts) - self.offset_s) // 86400)

    def scan(self, readings: Iterable[Reading], devices: dict[str, DeviceState]) -> None:
        """Add `readings` (oldest first, later than any scanned before) to the days before `current`."""
        entries, marks, current, offset_s, local_s = (
            self.entries,
            self.marks,
            self.current,
            self.offset_s,
            self.local_s,
        )
        water_total, contact = Signal.WATER_TOTAL, Signal.CONTACT
        day_marks: list[tuple[float, bool]] = []
        for r in readings:
            signal = r.signal
            if signal not in SIGN_SIGNALS:
                continue
            dev = devices.get(r.device)
            if dev is None:
                dev = devices[r.device] = DeviceState(r.device, 0.0, 0.0)
            litres = 0.0
            if signal is water_total:
                if dev.last_total != NEVER and r.value > dev.last_total:
                    litres = r.value - dev.last_total
                dev.last_total = r.value
                if litres <= 0:
                    continue
            elif not dev.is_sign(signal, r.value):
                continue
            local = local_s(r.ts)
            day = int((local - offset_s) // 86400)
            if day >= current:
                continue
            minute = (local - day * 86400) / 60
            entry = entries.get(day)
            if entry is None:
                entry = entries[day] = [minute, minute, 0.0, 0.0, minute, 0.0]
                day_marks = marks[day] = []
            elif day_marks is not marks[day]:  # back to a day scanned before (a late reading)
                day_marks = marks[day]
            entry[2] += litres
            at_door = signal is contact
            day_marks.append((minute, at_door))
            if minute < 1440:  # the evening; signs after midnight are the night, not part of the waking day
                # A spell that began at the door is an outing, not a quiet spell at home.
                if not entry[5]:
                    entry[3] = max(entry[3], minute - entry[4])
                entry[1] = entry[4] = minute
                entry[5] = 1.0 if at_door else 0.0

    def baseline(self) -> Baseline | None:
        """The baseline from the days scanned; None without a single day with a sign of life."""
        if not self.entries:
            return None
        th = self.th
        entries = list(self.entries.values())
        first_med, first_spread = _robust([e[0] for e in entries], th.routine_spread_floor_min)
        last_med, last_spread = _robust([e[1] for e in entries], th.routine_spread_floor_min)
        water_med, water_spread = _robust([e[2] for e in entries], 1.0)
        gaps = sorted(e[3] for e in entries)
        gap_p90 = gaps[min(len(gaps) - 1, int(0.9 * len(gaps)))]
        base = Baseline(
            len(entries), first_med, first_spread, water_med, water_spread, gap_p90, last_med, last_spread
        )
        late, early = _nights(self.entries, self.marks, first_med, last_med)
        base = replace(base, first_late_min=late, last_early_min=early)
        return _activity_model(base, self.marks, self.day_start_min, th.away_after_min)


class LocalSeconds:
    """An aware time → local wall-clock seconds since the epoch in `tz`, the zone's offset cached per quarter hour.

    Zone offsets are whole quarter hours and change on a quarter hour, so one offset serves a whole slot.
    """

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._offsets: dict[int, float] = {}

    def __call__(self, ts: datetime) -> float:
        """Local seconds since the epoch of `ts`."""
        t = ts.timestamp()
        slot = int(t // 900)
        offset = self._offsets.get(slot)
        if offset is None:
            delta = ts.astimezone(self.tz).utcoffset()
            offset = self._offsets[slot] = delta.total_seconds() if delta is not None else 0.0
        return t + offset


def _nights(
    days: dict[int, list[float]],
    marks: dict[int, list[tuple[float, bool]]],
    first_med: float,
    last_med: float,
) -> tuple[float, float]:
    """How much later than usual she got up, and how much earlier she went to bed, at most (minutes ≥ 0).

    Only nights of ordinary life count: seen inside in the evening (the day's last sign not the door) and
    again inside the next morning (not a return through the door), less than a day later; a night cut by a
    stay away or by a collapse (found the day after) is no night of hers.
    """
    late = early = 0.0
    for day, entry in days.items():
        after = days.get(day + 1)
        if after is None or entry[5] or marks[day + 1][0][1]:
            continue
        if after[0] + 1440.0 - entry[1] >= 1440.0:
            continue
        late = max(late, after[0] - first_med)
        early = max(early, last_med - entry[1])
    return late, early


def _activity_model(
    base: Baseline, marks: dict[int, list[tuple[float, bool]]], day_start_min: int, away_after_min: float
) -> Baseline:
    """Add the per-hour rate of signs and its calibration on the home's own days to `base`.

    The rate counts 10-minute spells with a sign (bursts of motion are one sign of life, not twenty). The
    calibration is, per 3-hour block of the hour a silence began in, the largest expected count that a silence
    of the learning weeks went without (a silence that began at the door is an outing, not a silence at home;
    the night counts until the day ends at `day_start`): a silence is only unusual when far more signs were
    expected than in any silence of the learning weeks that began at that time of day. Quiet evenings in front
    of the television widen the evening's bound, not the morning's.
    """
    spells: list[int] = [0] * 24
    for day_marks in marks.values():
        for slot in {int(minute // 10) for minute, _ in day_marks}:
            spells[(slot // 6) % 24] += 1
    n = len(marks)
    rates = bytes(min(255, round(count / n * RATE_SCALE)) for count in spells)
    model = replace(base, rates=rates)
    day_end = day_start_min + 1440.0
    worst = [0.0] * (24 // QUIET_BLOCK_H)
    outings: list[list[float]] = [[] for _ in worst]  # per block of the hour she left in: minutes out
    for day_marks in marks.values():
        day_marks.sort()
        for (m1, door), (m2, _) in zip(day_marks, [*day_marks[1:], (day_end, False)], strict=True):
            block = int(m1 // 60) % 24 // QUIET_BLOCK_H
            if door:
                if away_after_min <= m2 - m1 and m2 < day_end:  # out, and back before the day ended
                    outings[block].append(m2 - m1)
                continue
            worst[block] = max(worst[block], model.expected(m1, m2))
    every = [length for block in outings for length in block]
    outing_max = max(every, default=0.0)
    overall = _upper(every)
    limits = bytes(
        min(255, math.ceil((_upper(block) if block else overall) / OUTING_SCALE)) for block in outings
    )
    quiet = bytes(min(255, math.ceil(w * QUIET_SCALE)) for w in worst)
    return replace(model, quiet_expected=quiet, outing_max_min=outing_max, outing_limits=limits)


def _upper(lengths: list[float]) -> float:
    """The usual longest of `lengths`: the nearest-rank 90th percentile (a rare day trip is not usual); 0 if none."""
    if not lengths:
        return 0.0
    ordered = sorted(lengths)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _usable(home: HomeState) -> Baseline | None:
    b = home.learned
    return b if b is not None and b.days >= home.th.routine_min_days else None


class RoutineLateRule(TimerRule):
    """No sign of life by the usual first-activity time plus k spreads."""

    name = "routine_late"
    kinds = frozenset({"routine_late"})

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Raise when today's first sign is improbably late for this person."""
        b = _usable(home)
        if b is None:
            return (), NEVER
        th = home.th
        # As late as she got up in the learning weeks (× lie_in_factor) is a lie-in of hers, not a morning to
        # ask about.
        late = b.first_late_min * th.lie_in_factor
        margin = max(th.routine_k * b.first_spread_min, th.routine_min_margin_min, late)
        margin *= ctx.factor(home, now)
        start = ctx.day_start(now, home)
        start_min = th.local_time("day_start")
        assert start_min is not None
        offset = (start_min.hour * 60 + start_min.minute) * 60.0
        # Medians are minutes after local midnight of the rule day's date; `start` is day_start on that date.
        due_at = start - offset + (b.first_median_min + margin) * 60.0
        tomorrow = due_at + 86400.0
        if home.last_sign >= start or home.alerted & (MORNING | ROUTINE | QUIET | INACTIVE | UNKNOWN):
            return (), tomorrow
        if now < due_at:
            return (), due_at
        if (
            ctx.absent(home, now)
            or seems_away(home, now)
            or home.sign_devices_down(now, doubtful=True)
            or ctx.watched_since(home, now) >= start
        ):
            return (), tomorrow
        home.alerted |= ROUTINE
        text = (
            f"通常 {clock_text(b.first_median_min)}±{round(b.first_spread_min)} 分钟首次活动，"
            f"今日 {ctx.local(now, '%H:%M')} 仍无活动（最后一次活动 {ctx.local(home.last_sign)}）"
        )
        return [ctx.candidate(home, "routine_late", Severity.URGENT, now, text, check_first=True)], tomorrow


class QuietGapRule(TimerRule):
    """A silence that is unusual for this home at this hour: the activity model (`Baseline.rates`).

    The home's signs of life are a Poisson process whose rate depends on the local hour, learned from its own
    weeks; a silence from `last` to `now` had P(no sign) = exp(-expected signs over it). It is raised when the
    expected count passes `quiet_gap_factor` × the most that a silence of a usual day of this home went without
    (the per-home calibration; at least `activity_min_expected`), and it lasted `activity_min_hours`. Sleep is
    the hours with a low rate (the expected count barely grows at night, so bedtime never fires); the silence is
    judged only until the rule day ends, after that the morning rules judge. Outings (door, then nothing inside,
    no longer than this elder's outings last) and absences are states in which it stays quiet.

    A baseline from before the model (no rates) falls back to the longest usual quiet spell while awake.
    """

    name = "quiet_gap"
    kinds = frozenset({"quiet_gap"})

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Raise once per silence that is improbable for this home at these hours."""
        b = _usable(home)
        if b is None or home.alerted & (QUIET | INACTIVE | UNKNOWN | MORNING | ROUTINE):
            return (), NEVER
        th = home.th
        last = home.last_sign
        if ctx.watched_since(home, now) > last:
            # An absence ended (or watching began) since the last sign: the elder has not been seen up since,
            # so this is not a quiet spell of a waking day; the window and morning rules judge from its end.
            return (), NEVER
        start = ctx.day_start(last, home)
        start_t = th.local_time("day_start")
        assert start_t is not None
        day_start_min = start_t.hour * 60 + start_t.minute
        midnight = start - day_start_min * 60.0
        last_min = (last - midnight) / 60.0
        if b.rates:
            target = max(b.quiet_limit(last_min) * th.quiet_gap_factor, th.activity_min_expected)
            # Judged while she is usually awake: after her usual bedtime a silence is the night (an early
            # night is the commonest quiet evening), then the morning rules judge.
            # Her bedtime is as early as a morning may be late (the routine margin), or as early as she went
            # to bed in the learning weeks.
            lead = max(th.routine_k * b.last_spread_min, th.routine_min_margin_min, b.last_early_min)
            bedtime = min(day_start_min + 1440.0, b.last_median_min - lead)
            reach = b.reach(last_min, target * ctx.factor(home, now), bedtime)
            if reach == NEVER:
                return (), NEVER  # not unusual before her bedtime: the night, then the morning rules
            deadline = max(
                midnight + reach * 60.0, last + th.activity_min_hours * 3600.0 * ctx.factor(home, now)
            )
        else:
            # A silence that began near the usual bedtime is the night, not a quiet spell.
            if last_min > b.last_median_min - 2 * b.last_spread_min or last_min < b.first_median_min:
                return (), NEVER
            limit = max(b.gap_p90_min * 60.0 * th.quiet_gap_factor, th.quiet_gap_min_hours * 3600.0)
            deadline = last + limit * ctx.factor(home, now)
        if now < deadline:
            return (), deadline
        if left_by_door(home):
            # Outings are not silences at home (the calibration leaves them out too): the tier's window judges
            # them, stretched only as long as this elder's outings last.
            return (), NEVER
        if ctx.absent(home, now) or home.sign_devices_down(now, doubtful=True):
            return (), NEVER
        home.alerted |= QUIET
        if b.rates:
            expected = b.expected(last_min, last_min + (now - last) / 60.0)
            rate = expected * 3600.0 / (now - last)
            per_hour = f"{rate:.0f}" if rate >= 1 else f"{rate:.1f}"
            text = (
                f"通常此时段每小时约 {per_hour} 次活动，自 {ctx.local(last)}（{home.last_sign_what}）起"
                f"已 {hours_text(now - last)} 无活动（如常约应有 {expected:.0f} 次）"
            )
        else:
            text = (
                f"白天通常最长静默约 {hours_text(b.gap_p90_min * 60)}，"
                f"自 {ctx.local(last)}（{home.last_sign_what}）起已 {hours_text(now - last)} 无任何活动"
            )
        return [ctx.candidate(home, "quiet_gap", Severity.URGENT, now, text, check_first=True)], NEVER


class LowWaterDayRule:
    """Yesterday's water volume far below this person's usual (info: a welfare hint, not an emergency)."""

    name = "low_water_day"
    signals: frozenset[Signal] = frozenset()
    timed = True
    kinds = frozenset({"low_water_day"})

    def observe(self, home: HomeState, reading: Reading, ts: float, ctx: Context) -> Sequence[AlertCandidate]:
        """Timer-only rule (the engine closes each day's volume)."""
        return ()

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Checked by the engine at each day roll through `closed_day`; nothing on timers."""
        return (), NEVER

    def closed_day(
        self, home: HomeState, day_start: float, litres: float, ctx: Context
    ) -> AlertCandidate | None:
        """Called when the rule day starting at `day_start` is over with `litres` used in it."""
        b = _usable(home)
        if b is None or home.alerted & LOW_WATER_DAY or day_start < home.since:
            return None
        if litres >= b.water_median_l * home.th.water_low_fraction:
            return None
        end = day_start + 86400.0
        if ctx.absent(home, day_start + 43200.0) or home.sign_devices_down(end):
            return None
        if any(d.down(end, home.th.silence_factor) for d in home.devices.values() if d.last_total != NEVER):
            return None  # the meter was away: the volume is unknown, not low
        home.alerted |= LOW_WATER_DAY
        text = (
            f"{ctx.local(day_start, '%m-%d')} 全天用水 {litres:.0f} 升，"
            f"通常 {b.water_median_l:.0f}±{b.water_spread_l:.0f} 升，请探访时关注"
        )
        return ctx.candidate(home, "low_water_day", Severity.INFO, end, text, alert_class="notice")
