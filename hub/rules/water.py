"""Water: no use (< 10 L in 12 h, Shenzhen Longgang's rule) and continuous flow (leak, tap left open, fall
in the shower).

The engine turns the meter's cumulative total into per-half-hour decilitres (`HomeState.slots`), handling meter
resets and rollovers: a total that goes down is a restarted counter, never negative use. A home's water
meter is one sign-of-life source among others, so "no use" only stands on its own (and raises an elder
alert) when the meter is the home's only working sign source; otherwise the inactivity rules cover it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.base import Context, TimerRule, hours_text
from hub.rules.state import FLOW, INACTIVE, NEVER, NO_WATER, SLOT_S, SLOTS, UNKNOWN, DeviceState, HomeState


def water_delta(dev: DeviceState, total: float) -> float:
    """Litres used since the meter's previous total; a drop is a reset/rollover, never negative use."""
    last = dev.last_total
    dev.last_total = total
    if last == NEVER:
        return 0.0
    if total >= last:
        return total - last
    # Below half of the last value: restarted from zero, what it shows is what was used since.
    return total if total < last * 0.5 else 0.0


def _is_meter(dev: DeviceState) -> bool:
    return dev.last_total != NEVER


class WaterNoUseRule(TimerRule):
    """Less than `water_no_use_litres` in `water_no_use_hours`, when water is the home's only sign source."""

    name = "water_no_use"
    kinds = frozenset({"water_no_use"})

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Raise once per dry spell."""
        th = home.th
        if home.alerted & (NO_WATER | INACTIVE | UNKNOWN):
            return (), NEVER
        meters = [d for d in home.devices.values() if _is_meter(d)]
        if not meters:
            return (), NEVER
        factor = th.silence_factor
        total = sum(d.signs for d in home.devices.values())
        others = sum(d.signs for d in home.devices.values() if not _is_meter(d))
        if others > 0.2 * total:
            # Other devices carry a real share of the signs (even if one is down right now): the inactivity
            # rules judge this home; water alone would misread a dead sensor or a quiet evening.
            return (), now + 3600.0
        hours = min(th.water_no_use_hours, SLOTS * SLOT_S / 3600.0) * ctx.factor(home, now)
        home.roll_slots(now)
        # The latest half-hour from which on at least the threshold was used; the window runs from there.
        used = 0.0
        mark = -NEVER
        for i in range(SLOTS - 1, -1, -1):
            used += home.slots[i] / 10.0  # slots hold decilitres
            if used >= th.water_no_use_litres:
                mark = (home.slot - (SLOTS - 1 - i) + 1) * SLOT_S
                break
        deadline = max(mark, home.since, ctx.absence_end(home, now)) + hours * 3600.0
        if now < deadline:
            return (), deadline
        if ctx.absent(home, now) or all(d.down(now, factor) for d in meters):
            return (), now + 3600.0
        home.alerted |= NO_WATER
        text = f"近 {hours_text(hours * 3600)} 用水不足 {th.water_no_use_litres:g} 升（深圳龙岗规则），请电话确认老人情况"
        return [ctx.candidate(home, "water_no_use", Severity.WARNING, now, text, check_first=True)], NEVER


class ContinuousFlowRule:
    """Use in every half hour for `continuous_flow_hours`, or flow above a threshold for `flow_minutes`."""

    name = "continuous_flow"
    signals = frozenset({Signal.WATER_TOTAL, Signal.WATER_FLOW})
    timed = False
    kinds = frozenset({"continuous_flow"})

    def observe(self, home: HomeState, reading: Reading, ts: float, ctx: Context) -> Sequence[AlertCandidate]:
        """Check the run of used half hours (the engine filled the slots) or the flow rate."""
        th = home.th
        if reading.signal is Signal.WATER_FLOW:
            if reading.value <= th.flow_threshold_lph:
                home.flow_since = NEVER
                return ()
            if home.flow_since == NEVER:
                home.flow_since = ts
                return ()
            if ts - home.flow_since < th.flow_minutes * 60 or home.alerted & FLOW:
                return ()
            home.alerted |= FLOW
            text = (
                f"自 {ctx.local(home.flow_since)} 起水流持续 {hours_text(ts - home.flow_since)} "
                f"高于 {th.flow_threshold_lph:g} 升/小时，可能漏水、水龙头未关或淋浴时跌倒"
            )
            return [ctx.candidate(home, "continuous_flow", Severity.URGENT, ts, text, device=reading.device)]
        home.roll_slots(ts)
        n = min(SLOTS, math.ceil(th.continuous_flow_hours * 2))
        run = home.slots[SLOTS - n :]
        limit = th.continuous_slot_litres * 10  # slots hold decilitres
        # A meter that only reports totals shows a tap wide open as well as a flow sensor would: the volume of
        # a flow above `flow_threshold_lph` in every half hour for `flow_minutes` (the half hour going on
        # included). No household draws that long (a bath is one half hour's worth, cleaning a third of it).
        k = min(SLOTS, max(1, math.ceil(th.flow_minutes / 30)))
        fast = home.slots[SLOTS - k :]
        fast_limit = th.flow_threshold_lph * 0.5 * 10
        if min(run) < limit and min(fast) < fast_limit:
            if home.alerted & FLOW and home.slots[-1] < limit and home.slots[-2] < limit:
                home.alerted &= ~FLOW  # a dry hour: the run is over
            return ()
        if home.alerted & FLOW:
            return ()
        home.alerted |= FLOW
        if min(run) >= limit:
            first = (home.slot - n + 1) * SLOT_S
            text = (
                f"自 {ctx.local(first)} 起连续 {hours_text(n * SLOT_S)} 每 30 分钟都有用水"
                f"（共 {sum(run) / 10:.0f} 升），可能水龙头未关、漏水或淋浴时跌倒"
            )
        else:
            first = (home.slot - k + 1) * SLOT_S
            text = (
                f"自 {ctx.local(first)} 起每 30 分钟用水均超过 {fast_limit / 10:.0f} 升"
                f"（共 {sum(fast) / 10:.0f} 升，每小时约 {th.flow_threshold_lph:g} 升以上），"
                "可能水龙头未关、漏水或淋浴时跌倒"
            )
        return [ctx.candidate(home, "continuous_flow", Severity.URGENT, ts, text, device=reading.device)]

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Reading-driven rule."""
        return (), NEVER
