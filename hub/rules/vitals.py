"""Vital signs: heart rate, SpO2, blood pressure and body temperature outside their bounds.

Bounds are clinical defaults in `Thresholds` (per tier / per home overrides for a person with, say, a known
low resting pulse). A single spike never fires: the value must stay out of bounds for `vital_readings`
readings in a row, or for `vital_minutes` (first and latest out-of-bounds reading that far apart).
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.base import Context
from hub.rules.settings import Thresholds
from hub.rules.state import NEVER, HomeState

# signal → (Chinese name, unit, low bound field, high bound field)
VITALS: dict[Signal, tuple[str, str, str | None, str | None]] = {
    Signal.HEART_RATE: ("心率", "次/分", "heart_rate_low", "heart_rate_high"),
    Signal.SPO2: ("血氧", "%", "spo2_low", None),
    Signal.BP_SYSTOLIC: ("收缩压", "mmHg", "bp_systolic_low", "bp_systolic_high"),
    Signal.BP_DIASTOLIC: ("舒张压", "mmHg", "bp_diastolic_low", "bp_diastolic_high"),
    Signal.BODY_TEMP: ("体温", "°C", "body_temp_low", "body_temp_high"),
}
ALERTED = -1  # count value meaning "this episode was raised"


def bounds(th: Thresholds, signal: Signal) -> tuple[float, float]:
    """(low, high) for `signal` under `th`; a missing side is ±inf."""
    _, _, low, high = VITALS[signal]
    return (getattr(th, low) if low else -NEVER, getattr(th, high) if high else NEVER)


class VitalSignsRule:
    """Raises `vital_<signal>` (elder, urgent) for a vital sign that stays out of bounds."""

    name = "vitals"
    signals = frozenset(VITALS)
    timed = False
    kinds = frozenset(f"vital_{signal.value}" for signal in VITALS)

    def observe(self, home: HomeState, reading: Reading, ts: float, ctx: Context) -> Sequence[AlertCandidate]:
        """Count out-of-bounds readings in a row; an in-bounds reading ends the episode."""
        low, high = bounds(home.th, reading.signal)
        key = reading.signal.value
        value = reading.value
        if low <= value <= high:
            if home.vitals and key in home.vitals:
                del home.vitals[key]
                if not home.vitals:
                    home.vitals = None
            return ()
        if home.vitals is None:
            home.vitals = {}
        since, count = home.vitals.get(key, (ts, 0))
        if count == ALERTED:
            return ()
        count += 1
        th = home.th
        if count < th.vital_readings and not (count >= 2 and ts - since >= th.vital_minutes * 60):
            home.vitals[key] = (since, count)
            return ()
        home.vitals[key] = (since, ALERTED)
        name, unit, _, _ = VITALS[reading.signal]
        side = f"低于 {low:g}" if value < low else f"高于 {high:g}"
        text = (
            f"{name} {value:g} {unit}，自 {ctx.local(since)} 起连续 {count} 次{side} {unit}"
            "，请尽快联系老人或家属"
        )
        return [ctx.candidate(home, f"vital_{key}", Severity.URGENT, ts, text, device=reading.device)]

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Reading-driven rule."""
        return (), NEVER
