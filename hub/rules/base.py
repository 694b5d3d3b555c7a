"""The one interface every rule implements, and what the engine offers the rules while they run.

A rule is one module with one class. The engine calls `observe` for every reading of a signal the rule lists
in `signals` (hot path: O(1), no I/O), and `due` when the home's timer fires in a sweep; `due` returns the
candidates raised now and the next time the rule wants to look at this home (`NEVER` for none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.state import HomeState


class Context(Protocol):
    """What the engine offers a rule: time helpers, the calendar, timers, candidate construction."""

    def local(self, ts: float, fmt: str = "%m-%d %H:%M") -> str:
        """`ts` (epoch s) as local text."""
        ...

    def day_start(self, ts: float, home: HomeState) -> float:
        """Start (epoch s) of the home's rule day containing `ts` (days begin at `day_start` local)."""
        ...

    def local_clock(self, day_start: float, hhmm: str) -> float:
        """Epoch s of the local time `hhmm` on the calendar date of the rule day starting at `day_start`."""
        ...

    def absent(self, home: HomeState, ts: float) -> bool:
        """Whether the absence calendar says the elder is away from home at `ts`."""
        ...

    def absence_end(self, home: HomeState, ts: float) -> float:
        """End (epoch s) of the home's latest absence that ended by `ts`; -inf when none."""
        ...

    def watched_since(self, home: HomeState, ts: float) -> float:
        """Latest of: last sign, engine start for the home, end of the latest absence before `ts`."""
        ...

    def factor(self, home: HomeState, ts: float) -> float:
        """The tightening factor of the active weather/festival modes for the home (1.0 = none)."""
        ...

    def arm(self, home: HomeState, at: float) -> None:
        """Make sure the home is looked at no later than `at`."""
        ...

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
        """An alert candidate stamped at `at` (epoch s)."""
        ...


class Rule(Protocol):
    """One rule: reacts to readings of `signals` and/or to its home's timer."""

    name: str
    signals: frozenset[Signal]  # readings `observe` wants; empty for timer-only rules
    timed: bool  # whether `due` must run in sweeps
    kinds: frozenset[str]  # the alert kinds it may raise (named in hub/rules/kinds.py)

    def observe(self, home: HomeState, reading: Reading, ts: float, ctx: Context) -> Sequence[AlertCandidate]:
        """Update the rule's state with `reading` (at epoch `ts`); candidates raised at once."""
        ...

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Candidates raised at `now`, and when to look again (epoch s, or `NEVER`)."""
        ...


class TimerRule:
    """Base of the rules that only act on their home's timer (`due`), never on a single reading."""

    name = "timer"
    signals: frozenset[Signal] = frozenset()
    timed = True
    kinds: frozenset[str] = frozenset()

    def observe(self, home: HomeState, reading: Reading, ts: float, ctx: Context) -> Sequence[AlertCandidate]:
        """Timer-only: a reading raises nothing by itself."""
        return ()


def hours_text(seconds: float) -> str:
    """A duration in Chinese: 12 小时 / 2 小时 30 分 / 45 分钟."""
    minutes = round(seconds / 60)
    h, m = divmod(minutes, 60)
    if h and m:
        return f"{h} 小时 {m} 分"
    return f"{h} 小时" if h else f"{m} 分钟"


def clock_text(minute_of_day: float) -> str:
    """Minutes after local midnight as HH:MM (wraps past midnight)."""
    m = round(minute_of_day) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"
