"""Immediate rules: a reading that by itself means danger (SOS, fall, gas, smoke, water leak).

The table is data: adding an immediate kind is one entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hub.models import AlertCandidate, Reading, Severity, Signal

if TYPE_CHECKING:
    from hub.rules.base import Context
    from hub.rules.state import HomeState


@dataclass(frozen=True, slots=True)
class ImmediateRule:
    """A signal whose value at or above `threshold` opens an alert of `kind` at once."""

    signal: Signal
    kind: str
    severity: Severity
    threshold: float
    what: str  # Chinese, used in the explanation
    cancel_value: float | None = None  # a value that means "the elder cancelled"


IMMEDIATE_RULES: tuple[ImmediateRule, ...] = (
    ImmediateRule(Signal.SOS, "sos", Severity.CRITICAL, 1.0, "按下紧急呼叫按钮", cancel_value=0.0),
    ImmediateRule(Signal.FALL, "fall", Severity.CRITICAL, 1.0, "跌倒检测报警"),
    ImmediateRule(Signal.GAS, "gas", Severity.CRITICAL, 1.0, "燃气泄漏报警"),
    ImmediateRule(Signal.SMOKE, "smoke", Severity.CRITICAL, 1.0, "烟雾报警"),
    ImmediateRule(Signal.LEAK, "leak", Severity.URGENT, 1.0, "漏水报警"),
)

_BY_SIGNAL = {rule.signal: rule for rule in IMMEDIATE_RULES}

# The alert kinds only these rules raise: the ingest pipeline sends a message that raises one of them down
# its own fast lane, ahead of the routine batch.
IMMEDIATE_KINDS = frozenset(rule.kind for rule in IMMEDIATE_RULES)


class ImmediateRules:
    """Evaluates `IMMEDIATE_RULES` on single readings."""

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self._tz = ZoneInfo(timezone)

    def observe(self, reading: Reading) -> list[AlertCandidate]:
        """`RuleSink`: the candidates this reading raises (none, or one)."""
        candidate = self.evaluate(reading)
        return [] if candidate is None else [candidate]

    def evaluate(self, reading: Reading) -> AlertCandidate | None:
        """The alert candidate this reading raises, or None."""
        rule = _BY_SIGNAL.get(reading.signal)
        if rule is None:
            return None
        local = reading.ts.astimezone(self._tz).strftime("%m-%d %H:%M:%S")
        if reading.device_ts is not None:  # the device's clock was set aside: say so, the time is the hub's
            local += "（平台接收时间；设备时钟异常）"
        if rule.cancel_value is not None and reading.value == rule.cancel_value:
            return AlertCandidate(
                home=reading.home,
                kind=rule.kind,
                severity=rule.severity,
                at=reading.ts,
                device=reading.device,
                explanation=f"{local} 老人已取消（{reading.device}）",
                cancel=True,
            )
        if reading.value < rule.threshold:
            return None
        return AlertCandidate(
            home=reading.home,
            kind=rule.kind,
            severity=rule.severity,
            at=reading.ts,
            device=reading.device,
            explanation=f"{local} {rule.what}（设备 {reading.device}）",
        )


class ImmediateEngineRule:
    """`IMMEDIATE_RULES` as one rule of the engine: they pass whatever the calendar says."""

    name = "immediate"
    signals = frozenset(_BY_SIGNAL)
    timed = False
    kinds = frozenset(rule.kind for rule in IMMEDIATE_RULES)

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self._rules = ImmediateRules(timezone)

    def observe(self, home: HomeState, reading: Reading, ts: float, ctx: Context) -> Sequence[AlertCandidate]:
        """The candidate this reading raises at once (none, or one)."""
        candidate = self._rules.evaluate(reading)
        return () if candidate is None else (candidate,)

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Reading-driven rule."""
        return (), float("inf")
