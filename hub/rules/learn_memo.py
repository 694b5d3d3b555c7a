"""The nightly learning job day by day, for a replay of weeks: each night reads only the days it has not scanned.

The live job reads a home's last `learn_days` days from the time series every night (`learn_all`). A replay
runs that job every simulated night, so it would read every reading about `learn_days` times over. A
complete day's scan depends only on its readings and on the edge memory of the home's devices when the day
began (`SignDays.scan`), and a complete day's readings no longer change: `LearnMemo` keeps each day's scan
with the device state it began and ended with, and the next night reuses it wherever the state the day now
begins with is the one it was scanned with, so the baselines are the ones the live job would learn.

It holds every sign of the learning window per home in memory, which suits a replay of a district, not the
live hub of a city; the live job keeps reading the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from zoneinfo import ZoneInfo

from hub.models import Reading
from hub.rules.routine import SignDays
from hub.rules.settings import Thresholds
from hub.rules.state import NEVER, SIGN_SIGNALS, Baseline, DeviceState
from hub.store.base import TimeSeriesStore

_EPOCH = datetime(1970, 1, 1)
_BY_TIME = attrgetter("ts")

# What a day's scan carries from one day to the next: per device that has seen something, its last water
# total and its edge memory (a device never seen behaves as one not listed).
_State = tuple[tuple[str, float, int, int], ...]


async def sign_readings(store: TimeSeriesStore, home: str, start: datetime, end: datetime) -> list[Reading]:
    """A home's readings of the sign-of-life signals with start <= ts < end, oldest first.

    Equal times keep the order of the signals' names, so any split of a window reads in the same order.
    """
    readings: list[Reading] = []
    for signal in sorted(SIGN_SIGNALS):
        readings += await store.query(home, signal, start, end)
    readings.sort(key=_BY_TIME)
    return readings


@dataclass(slots=True)
class _Day:
    before: _State
    after: _State
    entry: list[float] | None
    marks: list[tuple[float, bool]] | None


@dataclass(slots=True)
class _HomeDays:
    boundaries: tuple[str, str]  # (day_start, zone): the days' edges; new ones make every day stale
    days: dict[int, _Day] = field(default_factory=dict)


def _state(devices: dict[str, DeviceState]) -> _State:
    return tuple(
        sorted(
            (code, d.last_total, d.edge_known, d.edge_value)
            for code, d in devices.items()
            if d.last_total != NEVER or d.edge_known
        )
    )


def _devices(state: _State) -> dict[str, DeviceState]:
    devices: dict[str, DeviceState] = {}
    for code, last_total, known, value in state:
        d = devices[code] = DeviceState(code, 0.0, 0.0)
        d.last_total, d.edge_known, d.edge_value = last_total, known, value
    return devices


def _day_begins(day: int, day_start_min: int, tz: ZoneInfo) -> datetime:
    """When local day number `day` begins (at `day_start`), in UTC."""
    local = _EPOCH + timedelta(days=day, minutes=day_start_min)
    return local.replace(tzinfo=tz).astimezone(UTC)


class LearnMemo:
    """Each home's scanned days, kept between nightly jobs (see the module docstring)."""

    def __init__(self) -> None:
        self._homes: dict[str, _HomeDays] = {}

    async def learn(
        self, home: str, th: Thresholds, tz: ZoneInfo, store: TimeSeriesStore, start: datetime, now: datetime
    ) -> Baseline | None:
        """The baseline `learn_baseline` gives for the home's readings in [start, now), from the days kept."""
        days = SignDays(tz, th, now)
        edges = (th.day_start, str(tz))
        kept = self._homes.get(home)
        if kept is None or kept.boundaries != edges:
            kept = self._homes[home] = _HomeDays(edges)
        devices: dict[str, DeviceState] = {}
        # The window's first day is cut by its start: always scanned afresh, never kept.
        first = days.day_of(start)
        end = min(_day_begins(first + 1, days.day_start_min, tz), now)
        days.scan(await sign_readings(store, home, start, end), devices)
        fresh: dict[int, _Day] = {}
        for day in range(first + 1, days.current):
            before = _state(devices)
            memo = kept.days.get(day)
            if memo is not None and memo.before == before:
                devices = _devices(memo.after)
                if memo.entry is not None and memo.marks is not None:
                    days.entries[day], days.marks[day] = memo.entry, memo.marks
            else:
                begins = _day_begins(day, days.day_start_min, tz)
                ends = _day_begins(day + 1, days.day_start_min, tz)
                days.scan(await sign_readings(store, home, begins, ends), devices)
                memo = _Day(before, _state(devices), days.entries.get(day), days.marks.get(day))
            fresh[day] = memo
        kept.days = fresh  # days before the window are gone with it
        return days.baseline()
