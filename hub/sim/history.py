"""The simulated homes' past: days of routine played at once, so a new demo has history on first open.

`play_history` runs a `Simulation` from `days` before `now` up to `now` and returns every message with its
simulated time (the devices' own time is the real past here, so the health monitors stamp it). The same
simulation then goes on live from `now` (`publish_simulation`): the meter's counter and the batteries carry
on where the history left them. `history_visits` are the home visits the visitors made meanwhile.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from hub.sim.errors import SimError
from hub.sim.publisher import Simulation
from hub.sim.routine import LOCAL_TZ, SimMessage


@dataclass(frozen=True, slots=True)
class SimVisit:
    """A home visit (上门探访) to one simulated elder by their visitor."""

    elder: str  # elder code
    visitor: str
    at: datetime


def play_history(simulation: Simulation, now: datetime, days: float) -> list[SimMessage]:
    """Every message of `simulation`'s homes from `days` before `now` to `now`, in time order.

    The simulation must start at `now - days`; afterwards it starts at `now`, ready to go on live.
    """
    if simulation.start != now - timedelta(days=days):
        raise SimError(f"the simulation must start {days} days before {now.isoformat()}")
    messages = simulation.announce(simulation.start) + simulation.due(now)
    simulation.start = now
    return messages


def history_visits(site: dict[str, Any], *, seed: int, now: datetime, days: int) -> list[SimVisit]:
    """Home visits over the `days` before `now`: a 重点对象 is visited about every week, the others once.

    Roughly one elder in eight was missed, so the visit-rate report has something to point at.
    """
    rng = random.Random(f"eldercare-sim-visits/{seed}")
    first = (now - timedelta(days=days)).astimezone(LOCAL_TZ).date()
    visits = []
    for home in site["homes"]:
        for elder in home.get("elders", []):
            visitor = next((c["name"] for c in elder.get("contacts", []) if c.get("role") == "visitor"), "")
            if not visitor or rng.random() < 0.125:
                continue
            count = 2 if elder.get("tier") == "key" else 1
            for n in range(count):
                span = days // count
                day = first + timedelta(days=n * span + rng.randint(1, max(span - 1, 1)))
                hour = rng.randint(9 * 60, 17 * 60)
                at = datetime.combine(day, time(hour // 60, hour % 60), LOCAL_TZ)
                if at < now:
                    visits.append(SimVisit(str(elder["code"]), visitor, at))
    return visits
