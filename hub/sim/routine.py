"""The daily routine of one simulated home, as the messages its devices would publish.

Everything here is pure: no clock, no I/O. A function takes a home's `HomeState`, a seeded `random.Random` and a
simulated time, and returns `SimMessage`s (simulated time, topic, payload bytes) in the real wire formats:

- Zigbee2MQTT state on ``zigbee2mqtt/<external_id>`` (motion, door contact, SOS action) and retained
  availability on ``zigbee2mqtt/<external_id>/availability``;
- Tasmota ``tele/<external_id>/SENSOR`` with the cumulative pulse counter ``COUNTER.C1`` while water runs,
  and the retained ``tele/<external_id>/LWT``;
- native health readings on ``eldercare/<external_id>/<signal>`` as ``{"value": …, "ts": "<ISO-8601 UTC>"}``.

The only mutable thing is the `HomeState` (pulse counter, door, batteries, the queue of planned messages),
which the functions update as they render messages in time order, so the counter only ever goes up.
"""

from __future__ import annotations

import bisect
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.sim.errors import SimError

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
MOTION_CLEAR_S = 90  # Zigbee2MQTT publishes occupancy false 90 s after the Aqara sensor fired
SOS_ECHO_S = 1  # the empty action echo follows the press almost at once


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One message a device would publish: when (aware UTC, simulated), where and what."""

    at: datetime
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class SimHome:
    """The devices of one site home that the simulator drives, by their external ids."""

    code: str
    sos: str
    motion: str
    door: str
    water: str
    health: str
    litres_per_pulse: float = 1.0
    report_interval_s: int = 300

    @classmethod
    def from_site(cls, home: Mapping[str, Any]) -> SimHome:
        """Pick the simulated devices out of one home of a site description (see `hub.sim.site`)."""
        by_model = {device["model"]: device for device in home.get("devices", [])}
        wanted = {
            "sos": "TS0215A_sos",
            "motion": "RTCGQ11LM",
            "door": "MCCGQ11LM",
            "water": "pulse_counter",
            "health": "health_monitor",
        }
        missing = [model for model in wanted.values() if model not in by_model]
        if missing:
            raise SimError(
                f"home {home.get('code')!r} has no device of model {', '.join(missing)} to simulate"
            )
        settings = by_model["pulse_counter"].get("settings", {})
        return cls(
            code=str(home["code"]),
            **{role: str(by_model[model]["external_id"]) for role, model in wanted.items()},
            litres_per_pulse=float(settings.get("litres_per_pulse", 1.0)),
            report_interval_s=int(settings.get("report_interval_s", 300)),
        )


@dataclass(slots=True)
class HomeState:
    """What one home's devices remember between messages, plus the traits that make its routine its own."""

    home: SimHome
    wake: time  # usual getting-up time, local
    bedtime: time  # usual lights-out, local
    pulses: int  # Tasmota COUNTER.C1
    door_closed: bool = True
    motion_battery: int = 100
    door_battery: int = 100
    heart_rate: int = 72  # the elder's resting baseline
    systolic: int = 130
    diastolic: int = 80
    planned_through: date | None = None  # last local day whose messages are in `queue`
    queue: list[SimMessage] = field(default_factory=list)  # planned, sorted by `at`
    # The counter as last *sent* (the plan runs ahead of it) and when Tasmota's next TelePeriod report is due.
    reported_pulses: int | None = None
    next_tele: datetime | None = None
    # Whether the health monitor stamps its readings with its own clock ("ts"). A simulation that runs faster
    # than the wall clock turns this off: simulated time is in the hub's future, and a device clock that far
    # ahead is a fault the hub reports (device_clock); without "ts" the hub stamps its receipt time.
    device_clock: bool = True

    def __post_init__(self) -> None:
        if self.reported_pulses is None:
            self.reported_pulses = self.pulses


def new_state(home: SimHome, rng: random.Random) -> HomeState:
    """A fresh state for `home`: its own wake time (06:30–07:30), bedtime, meter reading and health baseline."""
    wake_min = rng.randint(6 * 60 + 30, 7 * 60 + 30)
    bed_min = rng.randint(21 * 60, 22 * 60 + 30)
    return HomeState(
        home=home,
        wake=time(wake_min // 60, wake_min % 60),
        bedtime=time(bed_min // 60, bed_min % 60),
        pulses=rng.randint(20_000, 400_000),
        motion_battery=rng.randint(60, 100),
        door_battery=rng.randint(60, 100),
        heart_rate=rng.randint(64, 82),
        systolic=rng.randint(118, 148),
        diastolic=rng.randint(70, 88),
    )


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _utc_iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


def startup_messages(state: HomeState, at: datetime) -> list[SimMessage]:
    """What the bridges publish when they come up: retained availability / LWT, and the door's current state."""
    home = state.home
    online = _json({"state": "online"})
    return [
        *(
            SimMessage(at, f"zigbee2mqtt/{ext}/availability", online, retain=True)
            for ext in (home.sos, home.motion, home.door)
        ),
        SimMessage(at, f"tele/{home.water}/LWT", b"Online", retain=True),
        _door(state, at, closed=state.door_closed, linkquality=120),
    ]


def sos_press(state: HomeState, at: datetime) -> list[SimMessage]:
    """The elder presses the SOS button: the emergency action, then Zigbee2MQTT's empty action echo."""
    topic = f"zigbee2mqtt/{state.home.sos}"
    return [
        SimMessage(at, topic, _json({"action": "emergency", "battery": None, "linkquality": 90})),
        SimMessage(at + timedelta(seconds=SOS_ECHO_S), topic, _json({"action": ""})),
    ]


def _door(state: HomeState, at: datetime, *, closed: bool, linkquality: int) -> SimMessage:
    state.door_closed = closed
    # Aqara MCCGQ11LM: contact is true when the door is closed.
    payload = {"contact": closed, "battery": state.door_battery, "voltage": 2900 + state.door_battery * 3}
    payload["linkquality"] = linkquality
    return SimMessage(at, f"zigbee2mqtt/{state.home.door}", _json(payload))


def _illuminance(at: datetime, rng: random.Random) -> int:
    hour = at.astimezone(LOCAL_TZ).hour
    if 8 <= hour < 17:
        return rng.randint(150, 600)
    if 6 <= hour < 8 or 17 <= hour < 19:
        return rng.randint(30, 150)
    return rng.randint(0, 25)  # a lamp or the night light


def _motion(state: HomeState, rng: random.Random, at: datetime) -> list[SimMessage]:
    topic = f"zigbee2mqtt/{state.home.motion}"
    base = {"battery": state.motion_battery, "voltage": 2900 + state.motion_battery * 3}
    lux = _illuminance(at, rng)
    link = rng.randint(60, 160)
    return [
        SimMessage(at, topic, _json({"occupancy": True, "illuminance": lux, **base, "linkquality": link})),
        SimMessage(
            at + timedelta(seconds=MOTION_CLEAR_S),
            topic,
            _json({"occupancy": False, "illuminance": lux, **base, "linkquality": link}),
        ),
    ]


def _door_passage(state: HomeState, rng: random.Random, at: datetime) -> list[SimMessage]:
    """The door opens and closes again a few seconds later."""
    link = rng.randint(60, 160)
    return [
        _door(state, at, closed=False, linkquality=link),
        _door(state, at + timedelta(seconds=rng.randint(4, 20)), closed=True, linkquality=link),
    ]


def _water(state: HomeState, at: datetime, litres: float, minutes: float) -> list[SimMessage]:
    """Water runs for `minutes`: Tasmota reports the cumulative counter each report interval and at the end."""
    home = state.home
    total_pulses = max(1, round(litres / home.litres_per_pulse))
    duration = timedelta(minutes=minutes)
    start = state.pulses
    marks: list[datetime] = []
    step = timedelta(seconds=home.report_interval_s)
    mark = at + step
    while mark < at + duration:
        marks.append(mark)
        mark += step
    marks.append(at + duration)
    messages = []
    for when in marks:
        share = (when - at) / duration
        state.pulses = max(state.pulses, start + round(total_pulses * share))
        local = when.astimezone(LOCAL_TZ).replace(tzinfo=None)  # Tasmota stamps local time without a zone
        payload = {"Time": local.isoformat(timespec="seconds"), "COUNTER": {"C1": state.pulses}}
        messages.append(SimMessage(when, f"tele/{home.water}/SENSOR", _json(payload)))
    return messages


def _health(state: HomeState, rng: random.Random, at: datetime) -> list[SimMessage]:
    """One measurement round on the health monitor, a reading per signal a few seconds apart."""
    values: list[tuple[str, float]] = [
        ("heart_rate", state.heart_rate + rng.randint(-6, 8)),
        ("spo2", rng.randint(95, 99)),
        ("bp_systolic", state.systolic + rng.randint(-8, 10)),
        ("bp_diastolic", state.diastolic + rng.randint(-5, 6)),
        ("body_temp", round(rng.uniform(36.1, 36.9), 1)),
    ]
    messages = []
    for n, (signal, value) in enumerate(values):
        when = at + timedelta(seconds=5 * n)
        payload = _json({"value": value, "ts": _utc_iso(when)} if state.device_clock else {"value": value})
        messages.append(SimMessage(when, f"eldercare/{state.home.health}/{signal}", payload))
    return messages


def _local(day: date, hhmm: time, jitter_min: float, rng: random.Random) -> datetime:
    moment = datetime.combine(day, hhmm, LOCAL_TZ) + timedelta(minutes=rng.uniform(-jitter_min, jitter_min))
    return moment.astimezone(UTC)


def _merge_water(
    activities: list[tuple[datetime, str, float, float]],
) -> list[tuple[datetime, str, float, float]]:
    """Activities in time order, with overlapping water use joined into one run (one meter, one counter)."""
    merged: list[tuple[datetime, str, float, float]] = []
    last_water: int | None = None
    for activity in sorted(activities, key=lambda a: a[0]):
        when, kind, litres, minutes = activity
        if kind == "water" and last_water is not None:
            start, _, total, length = merged[last_water]
            end = start + timedelta(minutes=length)
            if when <= end:
                new_end = max(end, when + timedelta(minutes=minutes))
                merged[last_water] = (start, kind, total + litres, (new_end - start) / timedelta(minutes=1))
                continue
        if kind == "water":
            last_water = len(merged)
        merged.append(activity)
    return merged


def plan_day(state: HomeState, rng: random.Random, day: date) -> list[SimMessage]:
    """Every message of one local day of the home's routine, in time order.

    Getting up (motion, wash water, breakfast water, health check), a morning errand through the door, lunch,
    a nap, an afternoon walk or a visitor, supper, evening wash and health check, bed, and maybe one trip to the
    toilet at night. The state (counter, door, batteries) advances as the messages are rendered.
    """
    wake = _local(day, state.wake, 15, rng)
    bed = _local(day, state.bedtime, 20, rng)
    activities: list[tuple[datetime, str, float, float]] = []  # (when, kind, litres, minutes)

    def add(when: datetime, kind: str, litres: float = 0.0, minutes: float = 0.0) -> None:
        activities.append((when, kind, litres, minutes))

    if rng.random() < 0.5:  # a night trip to the toilet, before getting up
        night = datetime.combine(day, time(2), LOCAL_TZ).astimezone(UTC) + timedelta(
            minutes=rng.uniform(0, 150)
        )
        add(night, "motion")
        add(night + timedelta(minutes=1), "water", rng.uniform(5, 7), 1)
    add(wake, "motion")
    add(wake + timedelta(minutes=rng.uniform(2, 6)), "water", rng.uniform(10, 18), rng.uniform(5, 9))  # wash
    add(wake + timedelta(minutes=rng.uniform(12, 20)), "motion")
    add(
        wake + timedelta(minutes=rng.uniform(20, 35)), "water", rng.uniform(2, 5), rng.uniform(3, 6)
    )  # breakfast
    add(wake + timedelta(minutes=rng.uniform(35, 50)), "health")
    # Morning errand (market, exercise in the park): out through the door, back 1–2.5 h later.
    out = wake + timedelta(minutes=rng.uniform(60, 120))
    back = out + timedelta(minutes=rng.uniform(60, 150))
    add(out - timedelta(minutes=2), "motion")
    add(out, "door")
    add(back, "door")
    add(back + timedelta(minutes=1), "motion")
    lunch = _local(day, time(11, 30), 25, rng)
    lunch = max(lunch, back + timedelta(minutes=10))
    add(lunch, "motion")
    add(lunch + timedelta(minutes=3), "water", rng.uniform(4, 10), rng.uniform(4, 10))  # cooking, dishes
    nap_end = lunch + timedelta(minutes=rng.uniform(90, 150))
    add(nap_end, "motion")
    if rng.random() < 0.6:  # afternoon: a walk, or a neighbour / the grid worker calls
        add(nap_end + timedelta(minutes=rng.uniform(20, 60)), "door")
        add(nap_end + timedelta(minutes=rng.uniform(70, 120)), "door")
    supper = _local(day, time(17, 50), 25, rng)
    add(supper, "motion")
    add(supper + timedelta(minutes=2), "water", rng.uniform(5, 12), rng.uniform(5, 12))
    add(supper + timedelta(minutes=rng.uniform(60, 90)), "health")
    evening = supper + timedelta(minutes=rng.uniform(20, 60))
    while evening < bed - timedelta(minutes=45):  # pottering about, TV
        add(evening, "motion")
        evening += timedelta(minutes=rng.uniform(25, 60))
    add(
        bed - timedelta(minutes=rng.uniform(25, 40)), "water", rng.uniform(30, 60), rng.uniform(8, 15)
    )  # bath
    add(bed - timedelta(minutes=5), "motion")
    # Light daytime activity between the fixed points.
    moment = wake + timedelta(minutes=30)
    while moment < bed - timedelta(hours=1):
        if not (out <= moment <= back):
            add(moment, "motion")
        moment += timedelta(minutes=rng.uniform(30, 75))

    for _ in range(rng.randint(3, 6)):  # the toilet during the day
        flush = wake + (bed - wake) * rng.random()
        if not (out <= flush <= back):
            add(flush, "motion")
            add(flush + timedelta(minutes=2), "water", rng.uniform(5, 8), 1)

    messages: list[SimMessage] = []
    last_motion: datetime | None = None
    for when, kind, litres, minutes in _merge_water(activities):
        if kind == "motion":
            # The sensor stays occupied until Zigbee2MQTT clears it; a second trigger meanwhile is not sent.
            if last_motion is None or when - last_motion > timedelta(seconds=MOTION_CLEAR_S + 30):
                messages += _motion(state, rng, when)
                last_motion = when
        elif kind == "door":
            messages += _door_passage(state, rng, when)
        elif kind == "water":
            messages += _water(state, when, litres, minutes)
        elif kind == "health":
            messages += _health(state, rng, when)
    # Batteries drain slowly: about a percent every couple of weeks.
    if rng.random() < 0.07:
        state.motion_battery = max(5, state.motion_battery - 1)
    if rng.random() < 0.05:
        state.door_battery = max(5, state.door_battery - 1)
    messages.sort(key=lambda m: m.at)
    return messages


def due_messages(state: HomeState, rng: random.Random, now: datetime, *, since: datetime) -> list[SimMessage]:
    """The planned messages with `at` ≤ `now`, removed from the queue; days are planned as they come up.

    Messages before `since` (the start of the simulation) are dropped: the simulator starts in the middle of a
    day, and what happened before it is only seen in the meter's counter.
    """
    if now.tzinfo is None:
        raise SimError(f"the simulated time must be timezone-aware, got {now!r}")
    today = now.astimezone(LOCAL_TZ).date()
    if state.planned_through is None:
        state.planned_through = since.astimezone(LOCAL_TZ).date() - timedelta(days=1)
    while state.planned_through < today:
        state.planned_through += timedelta(days=1)
        for message in plan_day(state, rng, state.planned_through):
            bisect.insort(state.queue, message, key=lambda m: m.at)
    cut = bisect.bisect_right(state.queue, now, key=lambda m: m.at)
    due = state.queue[:cut]
    del state.queue[:cut]
    return _with_tele_period(state, [m for m in due if m.at >= since], since, now)


def _with_tele_period(
    state: HomeState, due: list[SimMessage], since: datetime, now: datetime
) -> list[SimMessage]:
    """Add the pulse counter's periodic SENSOR reports: a real Tasmota sends one every TelePeriod (300 s by
    default) whether water runs or not, which is what tells the hub the meter is alive at night."""
    home = state.home
    topic = f"tele/{home.water}/SENSOR"
    step = timedelta(seconds=home.report_interval_s)
    if state.next_tele is None:
        state.next_tele = since + step
    out: list[SimMessage] = []

    def tele_until(limit: datetime) -> None:
        assert state.next_tele is not None
        while state.next_tele <= limit:
            local = state.next_tele.astimezone(LOCAL_TZ).replace(tzinfo=None)
            payload = {"Time": local.isoformat(timespec="seconds"), "COUNTER": {"C1": state.reported_pulses}}
            out.append(SimMessage(state.next_tele, topic, _json(payload)))
            state.next_tele += step

    for message in due:
        tele_until(message.at)
        out.append(message)
        if message.topic == topic:  # a report while water runs restarts the period
            state.reported_pulses = json.loads(message.payload)["COUNTER"]["C1"]
            state.next_tele = message.at + step
    tele_until(now)
    return out


def add_messages(state: HomeState, messages: list[SimMessage]) -> None:
    """Slip extra messages (an SOS press) into the home's queue in time order."""
    for message in messages:
        bisect.insort(state.queue, message, key=lambda m: m.at)
