"""Weeks of realistic traffic for a population with known incidents, noise and device faults.

Built on the simulator's day plans (`hub.sim.routine.plan_day`, real wire formats) and adds what a district
sees in practice:

- heartbeats that repeat cached state: Tasmota's SENSOR every TelePeriod with an unchanged counter, Zigbee
  devices' check-ins that make Zigbee2MQTT publish the whole cached state again;
- noise: day trips, stays away for days (not registered in the absence calendar), cleaning days with lots
  of water, mornings slept in;
- incidents (the truth the rules are judged against): collapse by day, collapse by night (no sign of life
  until found 36 h later), a tap left open for hours, an SOS press;
- device faults that are *not* incidents: a motion sensor's battery dying (low battery, then silence, then
  Zigbee2MQTT marks it offline after 1500 min), a water meter offline for a day, a meter counter reset.

Two profiles. ``plain`` is the traffic the project judged itself on until issue 11 (kept so that tests whose
expectations were set on it stay meaningful). ``hard`` (the default) adds what a district sees on top, each with
its ground truth in `Traffic.episodes` / `announced` / `incidents` / `faults`:

- afternoon outings of 2–6 h (door, nothing inside, the door again), day trips of varying length, mornings
  slept in by up to 2.5 h, early nights (in bed 1–2.5 h before the usual time), cleaning days with motion as
  well as water;
- stays away that the family announced (entered as ``eldercare-hub absence`` would, in whole hours or up to
  the midnight after the return day) next to the unannounced ones; back home, tired from the journey, the
  elder often goes to bed soon after a short evening;
- a collapse right after the door ("motion, door, then nothing": back from an errand, or about to leave);
- a dying motion-sensor battery as it really behaves: the reported level swings between low under load and a
  recovered value at rest, the sensor misses more and more motion, then falls silent and Zigbee2MQTT marks it
  offline 1500 min later; a water meter that stops publishing without a last will (no LWT);
- about one elder in ten who cannot answer the phone (`Traffic.unable_to_answer`), so "ask the elder first"
  is not available there.

Homes are in Asia/Shanghai and every line's ``ts`` is UTC (Tasmota's own ``Time`` field is local, as in
the field): a detector has to put nights and days in the home's time, not the traffic's.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub.register.site import ElderEntry
from hub.rules.replay import ReplayLine
from hub.sim.routine import LOCAL_TZ, SimHome, SimMessage, new_state, plan_day, sos_press, startup_messages
from hub.sim.site import simulated_site

INCIDENT_KINDS = ("collapse_day", "collapse_night", "collapse_door", "tap_open", "sos")
FAULT_KINDS = ("dead_battery", "meter_offline", "meter_silent", "meter_reset")
# What each profile plants; `plain` is the traffic before issue 11.
PROFILE_INCIDENTS = {
    "plain": ("collapse_day", "collapse_night", "tap_open", "sos"),
    "hard": INCIDENT_KINDS,
}
PROFILE_FAULTS = {"plain": ("dead_battery", "meter_offline", "meter_reset"), "hard": FAULT_KINDS}
PROFILES = tuple(PROFILE_INCIDENTS)
# Faults that need a technician (a counter reset after a power cut is normalised away and needs nobody).
REPAIR_FAULTS = frozenset({"dead_battery", "meter_offline", "meter_silent"})
UNABLE_TO_ANSWER_SHARE = 0.1
# Local hours in which each incident may start.
_HOURS = {
    "collapse_day": (9.5, 16.5),
    "collapse_night": (0.5, 4.0),
    "tap_open": (8.0, 19.0),
    "sos": (7.0, 21.0),
}
FOUND_AFTER = timedelta(hours=36)  # a collapsed elder is found (and the home comes back to life) after this
TAP_HOURS = 6.0
HEARTBEAT_Z2M = timedelta(minutes=55)


@dataclass(frozen=True, slots=True)
class Incident:
    """Something the rules must catch: `kind` in `home` at `at`, over by `end`."""

    home: str
    kind: str
    at: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Fault:
    """A device fault (not an elder incident) in `home` from `start` to `end`."""

    home: str
    kind: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Episode:
    """A stretch of ordinary life that looks like trouble (`kind`: outing, day_trip, away_unannounced,
    away_announced, slept_in, early_night, cleaning) in `home` from `start` to `end`; the elder is fine."""

    home: str
    kind: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Announced:
    """An absence entered in the calendar (as `eldercare-hub absence add` would) from `start` to `end`."""

    home: str
    start: datetime
    end: datetime
    reason: str


@dataclass
class Traffic:
    """A generated population: site file data, the messages in time order, the truth."""

    site: dict[str, Any]
    lines: list[ReplayLine]
    incidents: list[Incident] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    start: datetime = datetime(2026, 3, 1, tzinfo=UTC)
    days: int = 28
    tiers: dict[str, str] = field(default_factory=dict)
    profile: str = "hard"
    episodes: list[Episode] = field(default_factory=list)
    announced: list[Announced] = field(default_factory=list)
    unable_to_answer: set[str] = field(default_factory=set)  # homes whose elders cannot answer the phone

    def jsonl(self) -> str:
        """The messages as replay JSONL."""
        return "".join(
            json.dumps({"ts": ln.ts.isoformat(), "topic": ln.topic, "payload": ln.payload.decode()}) + "\n"
            for ln in self.lines
        )


def _local(day: date, hh: float) -> datetime:
    return (datetime.combine(day, time(0), LOCAL_TZ) + timedelta(hours=hh)).astimezone(UTC)


def _c1(payload: bytes) -> int:
    return int(json.loads(payload)["COUNTER"]["C1"])


def _tasmota(home: SimHome, at: datetime, c1: int) -> SimMessage:
    local = at.astimezone(LOCAL_TZ).replace(tzinfo=None).isoformat(timespec="seconds")
    payload = json.dumps({"Time": local, "COUNTER": {"C1": c1}}, separators=(",", ":")).encode()
    return SimMessage(at, f"tele/{home.water}/SENSOR", payload)


def generate(
    homes: int = 60, days: int = 28, seed: int = 1, *, incidents: bool = True, profile: str = "hard"
) -> Traffic:
    """A population of `homes` over `days` local days; incidents and faults after the first two weeks."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    rng = random.Random(f"rules-traffic/{seed}")
    site = simulated_site(homes, seed)
    first_day = date(2026, 3, 1)
    start = datetime.combine(first_day, time(0), LOCAL_TZ).astimezone(UTC)
    traffic = Traffic(site, [], start=start, days=days, profile=profile)
    codes = [h["code"] for h in site["homes"]]
    traffic.tiers = {
        h["code"]: ("key" if any(e["tier"] == "key" for e in h["elders"]) else "general")
        for h in site["homes"]
    }
    if profile == "hard":
        _mark_unable_to_answer(traffic, random.Random(f"rules-traffic-phone/{seed}"))
    pool = codes[:]
    rng.shuffle(pool)
    plan: dict[str, tuple[str, int, float]] = {}  # home → (kind, day index, local hour)
    if incidents:
        per_kind = max(1, homes // 15)
        for kind in PROFILE_INCIDENTS[profile]:
            for _ in range(per_kind):
                day = rng.randint(15, days - 3)
                # Every range is drawn, as the plain traffic always did (same seed, same population).
                hours = {k: rng.uniform(lo, hi) for k, (lo, hi) in _HOURS.items()}
                hour = rng.uniform(8.0, 17.0) if kind == "collapse_door" else hours[kind]
                if pool:
                    plan[pool.pop()] = (kind, day, hour)
        for kind in PROFILE_FAULTS[profile]:
            for _ in range(per_kind):
                if pool:
                    plan[pool.pop()] = (kind, rng.randint(10, days - 4), rng.uniform(8.0, 20.0))
    out: list[SimMessage] = []
    for entry in site["homes"]:
        hard = random.Random(f"rules-traffic-hard/{seed}/{entry['code']}") if profile == "hard" else None
        out += _home_traffic(
            SimHome.from_site(entry), rng, first_day, days, plan.get(entry["code"]), traffic, hard
        )
    out.sort(key=lambda m: (m.at, m.topic))
    end = start + timedelta(days=days)
    traffic.lines = [ReplayLine(m.at, m.topic, m.payload) for m in out if m.at < end]
    return traffic


def _mark_unable_to_answer(traffic: Traffic, rng: random.Random) -> None:
    """About one home in ten whose elders cannot answer the phone (deaf, aphasic, no phone at hand)."""
    homes = traffic.site["homes"]
    chosen = rng.sample(homes, round(len(homes) * UNABLE_TO_ANSWER_SHARE))
    traffic.unable_to_answer = {h["code"] for h in chosen}
    if "can_answer_phone" in ElderEntry.model_fields:  # the register knows the flag: the site says so too
        for home in chosen:
            for elder in home["elders"]:
                elder["can_answer_phone"] = False


def _home_traffic(
    home: SimHome,
    rng: random.Random,
    first_day: date,
    days: int,
    event: tuple[str, int, float] | None,
    traffic: Traffic,
    hard: random.Random | None = None,
) -> list[SimMessage]:
    state = new_state(home, rng)
    start = _local(first_day, 0)
    messages: list[SimMessage] = startup_messages(state, start)
    silent: list[tuple[datetime, datetime]] = []  # the elder produces no sign (collapse, away)
    extra: list[SimMessage] = []
    away_until: date | None = None
    outs: list[tuple[datetime, datetime]] = []  # the elder is out of the home (errands, walks)
    episodes = traffic.episodes
    # The hard profile's habits of this home: how often it goes out for an afternoon, whether (and when) the
    # family announces a stay away.
    outing_rate = hard.uniform(0.05, 0.35) if hard else 0.0
    announce: tuple[int, int] | None = None
    if hard is not None and event is None and days >= 12 and hard.random() < 0.3:
        # Mostly ending after the first two weeks, when the learned rules are awake.
        announce = (hard.randint(days // 3, days - 8), hard.randint(2, 6))
    for n in range(days):
        day = first_day + timedelta(days=n)
        if away_until is not None and day <= away_until:
            continue
        wake = state.wake
        if rng.random() < 0.05:  # slept in
            late = rng.uniform(45, 90)
            if hard is not None:
                late = hard.uniform(45, 150)
            shifted = datetime.combine(day, wake) + timedelta(minutes=late)
            state.wake = shifted.time()
            usual = _local(day, wake.hour + wake.minute / 60)
            episodes.append(Episode(home.code, "slept_in", usual, usual + timedelta(minutes=late)))
        bedtime = state.bedtime
        early: datetime | None = None
        if hard is not None and hard.random() < 0.06:  # an early night: tired, or a cold coming
            shifted = datetime.combine(day, bedtime) - timedelta(minutes=hard.uniform(60, 150))
            state.bedtime = shifted.time()
            early = _local(day, shifted.hour + shifted.minute / 60)
            usual = _local(day, bedtime.hour + bedtime.minute / 60)
            episodes.append(Episode(home.code, "early_night", early, usual))
        day_msgs = plan_day(state, rng, day)
        state.wake, state.bedtime = wake, bedtime
        if early is not None:  # nothing after lights-out (the routine's evening check-up included)
            midnight = _local(day + timedelta(days=1), 0)
            day_msgs = [m for m in day_msgs if not (_elder_sign(home, m) and early < m.at < midnight)]
        roll = rng.random()
        trip = False  # the day is taken (away, a trip, cleaning): no afternoon outing
        if announce is not None and n == announce[0]:  # a stay the family announced
            assert hard is not None
            nights = announce[1]
            leave = _local(day, hard.uniform(8.0, 11.0))
            back = _local(day + timedelta(days=nights), hard.uniform(14.0, 19.0))
            tired = timedelta(minutes=hard.uniform(60, 180)) if hard.random() < 0.5 else None
            day_msgs, more = _away(state, home, rng, day_msgs, leave, back, tired)
            extra += more
            silent.append((leave + timedelta(minutes=1), back))
            away_until = day + timedelta(days=nights)
            episodes.append(Episode(home.code, "away_announced", leave, back))
            traffic.announced.append(_announcement(home.code, leave, back, nights, hard))
            trip = True
        elif event is None and announce is None and roll < 0.04 and n < days - 4:  # with family, 1–3 nights
            leave = _local(day, rng.uniform(9, 11))
            nights = rng.randint(1, 3)
            back = _local(day + timedelta(days=nights), rng.uniform(15, 19))
            tired = None
            if hard is not None and hard.random() < 0.5:
                tired = timedelta(minutes=hard.uniform(60, 180))
            day_msgs, more = _away(state, home, rng, day_msgs, leave, back, tired)
            extra += more
            silent.append((leave + timedelta(minutes=1), back))
            away_until = day + timedelta(days=nights)
            episodes.append(Episode(home.code, "away_unannounced", leave, back))
            trip = True
        elif roll < 0.08:  # a day trip, 09:00–19:30 (hard: anywhere from 07:30–16:00 to 10:30–21:00)
            leave, back = _local(day, rng.uniform(8.5, 9.5)), _local(day, rng.uniform(18.5, 20))
            if hard is not None:
                leave, back = _local(day, hard.uniform(7.5, 10.5)), _local(day, hard.uniform(16.0, 21.0))
            day_msgs = [m for m in day_msgs if not leave - timedelta(minutes=5) <= m.at <= back]
            extra += _leaving(state, home, leave, rng) + _door_pass(state, home, back, rng)
            episodes.append(Episode(home.code, "day_trip", leave, back))
            if hard is not None:  # an incident at home cannot happen while the elder is on a day trip
                outs.append((leave, back))
            trip = True
        elif roll < 0.16:  # cleaning day: mopping, laundry by hand
            at = _local(day, rng.uniform(9.5, 14.5))
            extra += _cleaning(state, home, at, rng, day_msgs)
            if hard is not None:  # moving from room to room with the mop
                for k in range(hard.randint(8, 16)):
                    extra += _motion_pulse(state, home, at + timedelta(minutes=6 * k + hard.uniform(0, 4)))
            episodes.append(Episode(home.code, "cleaning", at, at + timedelta(minutes=100)))
            trip = True  # a day at home: no afternoon out
        day_msgs, day_outs = _outings(home, day_msgs)
        if hard is not None and not trip and hard.random() < outing_rate:
            day_msgs, day_outs = _long_outing(state, home, hard, day, day_msgs, day_outs, episodes)
        outs += day_outs
        messages += day_msgs
    messages += extra
    mute: list[tuple[str, datetime, datetime]] = []  # (topic, from, to): a device publishes nothing
    if event is not None:
        kind, n, hour = event
        at = _local(first_day + timedelta(days=n), hour)
        for out_at, back_at in outs:  # a collapse at home: if the elder is out then, it happens after return
            if out_at <= at <= back_at:
                at = back_at + timedelta(minutes=20)
        if kind in ("collapse_day", "collapse_night"):
            silent.append((at, at + FOUND_AFTER))
            traffic.incidents.append(Incident(home.code, kind, at, at + FOUND_AFTER))
        elif kind == "collapse_door":  # motion in the hallway, the door, then nothing
            messages = [m for m in messages if not (_elder_sign(home, m) and at - _HALL <= m.at < at)]
            messages += _leaving(state, home, at, rng)
            silent.append((at + timedelta(minutes=1), at + FOUND_AFTER))
            traffic.incidents.append(Incident(home.code, kind, at, at + FOUND_AFTER))
        elif kind == "sos":
            messages += sos_press(state, at)
            traffic.incidents.append(Incident(home.code, kind, at, at + timedelta(hours=1)))
        elif kind == "tap_open":
            messages += _tap(home, at, messages)
            traffic.incidents.append(Incident(home.code, kind, at, at + timedelta(hours=TAP_HOURS)))
        elif kind == "dead_battery":
            messages, fault_end = _dead_battery(home, at, messages, hard)
            traffic.faults.append(Fault(home.code, kind, at, fault_end))
        elif kind == "meter_offline":
            back = at + timedelta(hours=30)
            messages = [
                m for m in messages if not (m.topic.endswith(home.water + "/SENSOR") and at <= m.at < back)
            ]
            messages += [
                SimMessage(at, f"tele/{home.water}/LWT", b"Offline", retain=True),
                SimMessage(back, f"tele/{home.water}/LWT", b"Online", retain=True),
            ]
            traffic.faults.append(Fault(home.code, kind, at, back + timedelta(hours=1)))
        elif kind == "meter_silent":  # hung, but its connection looks alive: no last will
            assert hard is not None
            back = at + timedelta(hours=hard.uniform(20, 40))
            mute.append((f"tele/{home.water}/SENSOR", at, back))
            traffic.faults.append(Fault(home.code, kind, at, back + timedelta(hours=1)))
        elif kind == "meter_reset":
            messages = _meter_reset(home, at, messages)
            traffic.faults.append(Fault(home.code, kind, at, at + timedelta(hours=12)))
    # An outing or a lie-in planned for after a collapse never happened: the truth keeps only lived episodes.
    collapsed = [
        (i.at, i.end) for i in traffic.incidents if i.home == home.code and i.kind.startswith("collapse")
    ]
    if collapsed:
        episodes[:] = [
            e
            for e in episodes
            if e.home != home.code or not any(e.start < b and a < e.end for a, b in collapsed)
        ]
    # The elder's own signs disappear while silent; the devices go on with their heartbeats.
    if silent:
        messages = [
            m for m in messages if not _elder_sign(home, m) or not any(a <= m.at < b for a, b in silent)
        ]
    messages.sort(key=lambda m: m.at)
    result = messages + _heartbeats(home, messages, start, start + timedelta(days=days), rng)
    for topic, a, b in mute:
        result = [m for m in result if m.topic != topic or not a <= m.at < b]
    return result


_HALL = timedelta(minutes=5)  # a collapse by the door: the hallway just before it is the elder's last walk


def _away(
    state: Any,
    home: SimHome,
    rng: random.Random,
    day_msgs: list[SimMessage],
    leave: datetime,
    back: datetime,
    tired: timedelta | None = None,
) -> tuple[list[SimMessage], list[SimMessage]]:
    """A stay away from `leave` to `back` (a later day): the day's messages before leaving, and the leaving,
    the return and the return day's evening routine (`tired`: to bed that much earlier, soon after a short
    evening, as after a journey)."""
    kept = [m for m in day_msgs if m.at < leave]
    more = _leaving(state, home, leave, rng) + _door_pass(state, home, back, rng)
    back_day = back.astimezone(LOCAL_TZ).date()
    evening = [m for m in plan_day(state, rng, back_day) if m.at > back]
    if tired is not None:
        usual = datetime.combine(back_day, state.bedtime, LOCAL_TZ).astimezone(UTC)
        lights_out = max(usual - tired, back + timedelta(minutes=45))
        evening = [m for m in evening if not (_elder_sign(home, m) and m.at > lights_out)]
    return kept, more + evening


def _announcement(home: str, leave: datetime, back: datetime, nights: int, rng: random.Random) -> Announced:
    """What the family enters: whole hours, from a little before leaving; until the midnight after the
    return day (dates only), or a round hour after the return."""
    start = leave.astimezone(LOCAL_TZ).replace(minute=0, second=0, microsecond=0)
    start -= timedelta(hours=rng.choice((0, 1)))
    local_back = back.astimezone(LOCAL_TZ)
    if rng.random() < 0.5:
        end = datetime.combine(local_back.date() + timedelta(days=1), time(0), LOCAL_TZ)
    else:
        end = local_back.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1 + rng.randint(0, 2))
    reason = rng.choice(("住院", "去子女家", "探亲", "外出旅游"))
    return Announced(home, start.astimezone(UTC), end.astimezone(UTC), f"{reason}（{nights} 晚）")


def _long_outing(
    state: Any,
    home: SimHome,
    rng: random.Random,
    day: date,
    day_msgs: list[SimMessage],
    day_outs: list[tuple[datetime, datetime]],
    episodes: list[Episode],
) -> tuple[list[SimMessage], list[tuple[datetime, datetime]]]:
    """An afternoon out (mahjong, a friend, the clinic) of 2–6 h: leaving through the door, nothing inside,
    back through the door; it swallows the day's shorter walks that overlap it."""
    leave = _local(day, rng.uniform(13.0, 15.5))
    back = min(leave + timedelta(hours=rng.uniform(2, 6)), _local(day, 21.5))
    for a, b in day_outs:
        if a <= back and leave <= b:
            leave, back = min(leave, a), max(back, b)
    outs = [(a, b) for a, b in day_outs if not (a <= back and leave <= b)] + [(leave, back)]
    kept = [
        m
        for m in day_msgs
        if not (_elder_sign(home, m) and leave - _HALL <= m.at <= back + timedelta(minutes=2))
    ]
    kept += _leaving(state, home, leave, rng) + _door_pass(state, home, back, rng)
    kept += _motion_pulse(state, home, back + timedelta(minutes=rng.uniform(1, 3)))
    kept.sort(key=lambda m: m.at)
    episodes.append(Episode(home.code, "outing", leave, back))
    return kept, sorted(outs)


def _outings(
    home: SimHome, day_msgs: list[SimMessage]
) -> tuple[list[SimMessage], list[tuple[datetime, datetime]]]:
    """The day's outings (door passages pair up: out, back) and the messages without the elder's signs
    inside the home while out (the simulator keeps its daytime motion loop running during walks)."""
    door = f"zigbee2mqtt/{home.door}"
    opens = [m.at for m in day_msgs if m.topic == door and b'"contact":false' in m.payload]
    outs = [(opens[i], opens[i + 1]) for i in range(0, len(opens) - 1, 2)]
    inside = (f"zigbee2mqtt/{home.motion}", f"tele/{home.water}/SENSOR")

    def kept(m: SimMessage) -> bool:
        return m.topic not in inside or not any(a < m.at < b for a, b in outs)

    return [m for m in day_msgs if kept(m)], outs


def _elder_sign(home: SimHome, m: SimMessage) -> bool:
    topic = m.topic
    return (
        topic in (f"zigbee2mqtt/{home.motion}", f"zigbee2mqtt/{home.door}", f"zigbee2mqtt/{home.sos}")
        or topic == f"tele/{home.water}/SENSOR"
        or topic.startswith(f"eldercare/{home.health}/")
    )


def _door_pass(state: Any, home: SimHome, at: datetime, rng: random.Random) -> list[SimMessage]:
    topic = f"zigbee2mqtt/{home.door}"

    def door(when: datetime, closed: bool) -> SimMessage:
        payload = {
            "contact": closed,
            "battery": state.door_battery,
            "voltage": 3000,
            "linkquality": rng.randint(60, 160),
        }
        return SimMessage(when, topic, json.dumps(payload, separators=(",", ":")).encode())

    return [door(at, False), door(at + timedelta(seconds=rng.randint(4, 20)), True)]


def _motion_pulse(state: Any, home: SimHome, when: datetime) -> list[SimMessage]:
    """The motion sensor fires at `when` and clears 90 s later."""
    topic = f"zigbee2mqtt/{home.motion}"
    return [
        SimMessage(
            when + timedelta(seconds=delay),
            topic,
            json.dumps({"occupancy": occupied, "battery": state.motion_battery}).encode(),
        )
        for occupied, delay in ((True, 0), (False, 90))
    ]


def _leaving(state: Any, home: SimHome, at: datetime, rng: random.Random) -> list[SimMessage]:
    """Walking to the door (the hallway sensor sees it), then out."""
    when = at - timedelta(minutes=rng.uniform(1, 3))
    return [*_motion_pulse(state, home, when), *_door_pass(state, home, at, rng)]


def _counter_at(home: SimHome, messages: list[SimMessage], at: datetime) -> int:
    topic = f"tele/{home.water}/SENSOR"
    best = None
    for m in messages:
        if m.topic == topic and m.at <= at and (best is None or m.at >= best[0]):
            best = (m.at, _c1(m.payload))
    return best[1] if best else 0


def _cleaning(
    state: Any, home: SimHome, at: datetime, rng: random.Random, day_msgs: list[SimMessage]
) -> list[SimMessage]:
    """Four buckets/loads of 25–45 L over about 80 minutes, on top of the day's use (the counter adds up)."""
    out = []
    added = 0
    for k in range(4):
        when = at + timedelta(minutes=20 * k + rng.uniform(0, 5))
        added += rng.randint(25, 45)
        out.append((when, added))
    # Shift the day's later counter values up by what cleaning drew, then add the cleaning reports.
    topic = f"tele/{home.water}/SENSOR"
    base = _counter_at(home, day_msgs, at)
    for i, m in enumerate(day_msgs):
        if m.topic == topic and m.at > at:
            extra = max((a for w, a in out if w <= m.at), default=0)
            day_msgs[i] = _tasmota(home, m.at, _c1(m.payload) + extra)
    state.pulses += added
    reports = []
    for when, total in out:
        prior = max((_c1(m.payload) for m in day_msgs if m.topic == topic and m.at <= when), default=base)
        reports.append(_tasmota(home, when + timedelta(minutes=6), max(prior, base) + total))
    return reports


def _tap(home: SimHome, at: datetime, messages: list[SimMessage]) -> list[SimMessage]:
    """A tap left running at ~6 L/min: the meter reports every 5 minutes, later counter values shift up."""
    topic = f"tele/{home.water}/SENSOR"
    steps = int(TAP_HOURS * 12)
    base = _counter_at(home, messages, at)
    drawn_by = [(at + timedelta(minutes=5 * (k + 1)), 30 * (k + 1)) for k in range(steps)]
    for i, m in enumerate(messages):
        if m.topic == topic and m.at > at:
            extra = max((d for w, d in drawn_by if w <= m.at), default=0)
            messages[i] = _tasmota(home, m.at, _c1(m.payload) + extra)
    return [_tasmota(home, when, base + drawn) for when, drawn in drawn_by]


def _dead_battery(
    home: SimHome, at: datetime, messages: list[SimMessage], hard: random.Random | None = None
) -> tuple[list[SimMessage], datetime]:
    """The motion sensor reports a low battery, then dies; Zigbee2MQTT marks it offline 1500 min later.

    Plain: 8 % for two days. Hard, as a coin cell behaves: low under load, recovered at rest (the level swings
    across the low-battery bound, and the last report before it dies is a recovered one); it misses more and
    more motion over its last 12 hours; it dies 1–4 days after the first low report.
    """
    topic = f"zigbee2mqtt/{home.motion}"
    dies = at + (timedelta(days=hard.uniform(1, 4)) if hard else timedelta(days=2))
    fading = dies - timedelta(hours=12)
    out = []
    last = None
    for m in (
        sorted(messages, key=lambda m: m.at) if hard else messages
    ):  # hard: the last report is the latest
        if m.topic == topic and at <= m.at:
            if m.at >= dies:
                continue
            data = json.loads(m.payload)
            data["battery"] = 8
            if hard is not None:
                if m.at >= fading and hard.random() < 0.9 * (m.at - fading) / (dies - fading):
                    continue  # a missed detection: too little charge left to transmit
                data["battery"] = hard.randint(5, 14) if hard.random() < 0.5 else hard.randint(22, 40)
                data["voltage"] = 2450 + 12 * data["battery"]
            m = SimMessage(m.at, m.topic, json.dumps(data, separators=(",", ":")).encode())
            last = len(out)
        out.append(m)
    if hard is not None and last is not None:  # the last breath comes after a rest: a recovered level
        data = json.loads(out[last].payload)
        data["battery"], data["voltage"] = 31, 2450 + 12 * 31
        out[last] = SimMessage(out[last].at, topic, json.dumps(data, separators=(",", ":")).encode())
    offline = dies + timedelta(minutes=1500)
    out.append(SimMessage(offline, f"{topic}/availability", b'{"state":"offline"}', retain=True))
    return out, offline + timedelta(days=30)


def _meter_reset(home: SimHome, at: datetime, messages: list[SimMessage]) -> list[SimMessage]:
    """A power cut: the pulse counter starts again from zero."""
    topic = f"tele/{home.water}/SENSOR"
    base = _counter_at(home, messages, at)
    return [
        _tasmota(home, m.at, max(0, _c1(m.payload) - base)) if m.topic == topic and m.at > at else m
        for m in messages
    ]


def _heartbeats(
    home: SimHome, messages: list[SimMessage], start: datetime, end: datetime, rng: random.Random
) -> list[SimMessage]:
    """Periodic reports that repeat the cached state (meter every 300 s, Zigbee check-ins about hourly)."""
    out: list[SimMessage] = []
    water_topic = f"tele/{home.water}/SENSOR"
    water = [(m.at, _c1(m.payload)) for m in messages if m.topic == water_topic]
    offline = [m.at for m in messages if m.topic == f"tele/{home.water}/LWT" and m.payload == b"Offline"]
    online = [
        m.at
        for m in messages
        if m.topic == f"tele/{home.water}/LWT" and m.payload == b"Online" and m.at > start
    ]
    down = list(zip(offline, online, strict=False))
    i = 0
    c1 = water[0][1] if water else 0
    at = start + timedelta(seconds=rng.randint(0, 299))
    while at < end:
        while i < len(water) and water[i][0] <= at:
            c1 = water[i][1]
            i += 1
        if not any(a <= at < b for a, b in down):
            out.append(_tasmota(home, at, c1))
        at += timedelta(seconds=home.report_interval_s)
    for device in (home.motion, home.door):
        topic = f"zigbee2mqtt/{device}"
        own = [m for m in messages if m.topic == topic]
        dead = [m.at for m in messages if m.topic == f"{topic}/availability" and b"offline" in m.payload]
        last_own = own[-1].at if dead and own else None
        j = 0
        cached: bytes | None = None
        at = start + timedelta(minutes=rng.uniform(0, 55))
        while at < end:
            while j < len(own) and own[j].at <= at:
                cached = own[j].payload
                j += 1
            if cached is not None and (last_own is None or at < last_own):
                data = json.loads(cached)
                if "occupancy" in data:
                    data["occupancy"] = False  # the cached state was cleared 90 s after the last motion
                out.append(SimMessage(at, topic, json.dumps(data, separators=(",", ":")).encode()))
            at += HEARTBEAT_Z2M
    at = start + timedelta(minutes=rng.uniform(0, 55))
    while at < end:
        out.append(SimMessage(at, f"zigbee2mqtt/{home.sos}", b'{"battery":90,"linkquality":80}'))
        at += HEARTBEAT_Z2M
    return out
