"""Routine work steps aside while an urgent alert is on its way out.

Under background load an SOS is not slowed by I/O but by the interpreter lock: while its lane commit and
the alert worker's claim (the escalation's first step: policy, recipients, outbox rows — a dozen statements)
run in threads, the event loop decodes routine traffic and the routine batch commits, and every statement
of the SOS waits for its turn. Measured on the 2-core box with 4,600 msg/s of background: the worker's claim
took 10–12 ms (p50) instead of 6.6 ms with none.

So from the moment an urgent message is accepted into the fast lane until the alert worker has sent what it
caused, the routine consumer and the routine flusher wait; the urgent session, the lane and the worker run
alone. A routine flush already under way finishes. Routine messages wait in the broker's queue, unacknowledged,
so nothing is lost, only delayed.

The hold is bounded so that a storm of presses cannot starve routine traffic (whose silence the rules would
read as an elder's silence): it lasts at most `HOLD_MAX_S`, and once released the gate is free for at least
as long as it was held before it can be held again, so routine work keeps at least half of the time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hub import metrics

# The longest routine work waits for one urgent alert; an SOS takes 10–30 ms from acceptance to its send.
HOLD_MAX_S = 0.1


class RoutineGate:
    """Held from an urgent message's acceptance until the alert worker has sent what it caused.

    Event-loop side: `hold`, `wait`, `round_done`. `lane_committed` is called from the lane's commit thread.
    """

    def __init__(
        self, hold_max_s: float = HOLD_MAX_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._hold_max = hold_max_s
        self._now = monotonic
        self._free = asyncio.Event()
        self._free.set()
        self._held_at: float | None = None
        self._last_hold = float("-inf")  # when the latest urgent message was accepted
        # (accepted before, committed at) of the latest lane commit: written in one assignment, because
        # the commit thread writes it while the event loop reads it.
        self._commit = (float("-inf"), float("inf"))
        self._not_before = float("-inf")  # duty cycle: no new hold before this
        self._timer: asyncio.TimerHandle | None = None
        self.holds = 0  # how many times routine work was held (tests read it)

    @property
    def held(self) -> bool:
        """True while routine work waits."""
        return not self._free.is_set()

    def hold(self) -> None:
        """An urgent message was accepted into the fast lane: routine work waits (if the duty cycle allows)."""
        now = self._now()
        self._last_hold = now
        if self._held_at is not None or now < self._not_before:
            return
        self._held_at = now
        self._free.clear()
        self.holds += 1
        self._timer = asyncio.get_running_loop().call_later(self._hold_max, self._release)

    def mark(self) -> float:
        """Now, on the gate's clock: taken when a lane batch is swapped out for its flush."""
        return self._now()

    def lane_committed(self, taken_at: float) -> None:
        """The lane batch taken at `taken_at` (`mark`) is committed in the register; thread-safe."""
        self._commit = (taken_at, self._now())

    def round_done(self, claim_started: float) -> None:
        """The alert worker finished a round (claimed and sent) whose claim began at `claim_started`.

        Routine work resumes when that claim began after the commit of a lane batch holding every urgent
        message accepted so far: its alerts' first notifications are out (or there were none to send)."""
        if self._held_at is None:
            return
        taken, committed = self._commit
        if claim_started >= committed and self._last_hold <= taken:
            self._release()

    async def wait(self) -> None:
        """Return when routine work may go on."""
        if not self._free.is_set():
            await self._free.wait()

    def _release(self) -> None:
        if self._held_at is None:
            return
        now = self._now()
        held = now - self._held_at
        self._not_before = now + held
        self._held_at = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        metrics.ROUTINE_HELD.inc(held)
        self._free.set()
