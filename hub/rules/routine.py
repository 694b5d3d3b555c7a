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

import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.base import Context, TimerRule, clock_text, hours_text
from hub.rules.inactivity import seems_away
from hub.rules.settings import Thresholds
from hub.rules.state import (
    INACTIVE,
    LOW_WATER_DAY,
    MORNING,
    NEVER,
    QUIET,
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
    start_t = th.local_time("day_start")
    assert start_t is not None  # validated: day_start is never empty
    offset = timedelta(hours=start_t.hour, minutes=start_t.minute)
    current = (today.astimezone(tz) - offset).date()
    devices: dict[str, DeviceState] = {}
    days: dict[object, list[float]] = {}  # date → [first, last, water L, max gap, previous, at door]
    for r in readings:
        if r.signal not in SIGN_SIGNALS:
            continue
        dev = devices.get(r.device)
        if dev is None:
            dev = devices[r.device] = DeviceState(r.device, 0.0, 0.0)
        litres = 0.0
        if r.signal is Signal.WATER_TOTAL:
            if dev.last_total != NEVER and r.value > dev.last_total:
                litres = r.value - dev.last_total
            dev.last_total = r.value
            sign = litres > 0
        else:
            sign = dev.is_sign(r.signal, r.value)
        if not sign:
            continue
        local = r.ts.astimezone(tz)
        day = (local - offset).date()
        if day >= current:
            continue
        minute = (
            local.replace(tzinfo=None) - datetime.combine(day, datetime.min.time())
        ).total_seconds() / 60
        entry = days.get(day)
        if entry is None:
            entry = days[day] = [minute, minute, 0.0, 0.0, minute, 0.0]
        entry[2] += litres
        if minute < 1440:  # the evening; signs after midnight are the night, not part of the waking day
            # A spell that began at the door is an outing, not a quiet spell at home.
            if not entry[5]:
                entry[3] = max(entry[3], minute - entry[4])
            entry[1] = entry[4] = minute
            entry[5] = 1.0 if r.signal is Signal.CONTACT else 0.0
    if not days:
        return None
    entries = list(days.values())
    first_med, first_spread = _robust([e[0] for e in entries], th.routine_spread_floor_min)
    last_med, last_spread = _robust([e[1] for e in entries], th.routine_spread_floor_min)
    water_med, water_spread = _robust([e[2] for e in entries], 1.0)
    gaps = sorted(e[3] for e in entries)
    gap_p90 = gaps[min(len(gaps) - 1, int(0.9 * len(gaps)))]
    return Baseline(
        len(entries), first_med, first_spread, water_med, water_spread, gap_p90, last_med, last_spread
    )


def _usable(home: HomeState) -> Baseline | None:
    b = home.learned
    return b if b is not None and b.days >= home.th.routine_min_days else None


class RoutineLateRule(TimerRule):
    """No sign of life by the usual first-activity time plus k spreads."""

    name = "routine_late"

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Raise when today's first sign is improbably late for this person."""
        b = _usable(home)
        if b is None:
            return (), NEVER
        th = home.th
        margin = max(th.routine_k * b.first_spread_min, th.routine_min_margin_min) * ctx.factor(home, now)
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
    """Up and about today, then silent far longer than this person's longest usual quiet spell."""

    name = "quiet_gap"

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Raise once per silence that began while the elder is usually awake."""
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
        midnight = start - (start_t.hour * 60 + start_t.minute) * 60.0
        last_min = (last - midnight) / 60.0
        # A silence that began near the usual bedtime is the night, not a quiet spell.
        if last_min > b.last_median_min - 2 * b.last_spread_min or last_min < b.first_median_min:
            return (), NEVER
        limit = max(b.gap_p90_min * 60.0 * th.quiet_gap_factor, th.quiet_gap_min_hours * 3600.0)
        limit *= ctx.factor(home, now)
        deadline = last + limit
        if now < deadline:
            return (), deadline
        if ctx.absent(home, now) or seems_away(home, now) or home.sign_devices_down(now, doubtful=True):
            return (), NEVER
        home.alerted |= QUIET
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
