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
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub.rules.replay import ReplayLine
from hub.sim.routine import LOCAL_TZ, SimHome, SimMessage, new_state, plan_day, sos_press, startup_messages
from hub.sim.site import simulated_site

INCIDENT_KINDS = ("collapse_day", "collapse_night", "tap_open", "sos")
FAULT_KINDS = ("dead_battery", "meter_offline", "meter_reset")
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


def generate(homes: int = 60, days: int = 28, seed: int = 1, *, incidents: bool = True) -> Traffic:
    """A population of `homes` over `days` local days; incidents and faults after the first two weeks."""
    rng = random.Random(f"rules-traffic/{seed}")
    site = simulated_site(homes, seed)
    first_day = date(2026, 3, 1)
    start = datetime.combine(first_day, time(0), LOCAL_TZ).astimezone(UTC)
    traffic = Traffic(site, [], start=start, days=days)
    codes = [h["code"] for h in site["homes"]]
    traffic.tiers = {
        h["code"]: ("key" if any(e["tier"] == "key" for e in h["elders"]) else "general")
        for h in site["homes"]
    }
    pool = codes[:]
    rng.shuffle(pool)
    plan: dict[str, tuple[str, int, float]] = {}  # home → (kind, day index, local hour)
    if incidents:
        per_kind = max(1, homes // 15)
        for kind in INCIDENT_KINDS:
            for _ in range(per_kind):
                day = rng.randint(15, days - 3)
                hour = {
                    "collapse_day": rng.uniform(9.5, 16.5),
                    "collapse_night": rng.uniform(0.5, 4.0),
                    "tap_open": rng.uniform(8.0, 19.0),
                    "sos": rng.uniform(7.0, 21.0),
                }[kind]
                plan[pool.pop()] = (kind, day, hour)
        for kind in FAULT_KINDS:
            for _ in range(per_kind):
                plan[pool.pop()] = (kind, rng.randint(10, days - 4), rng.uniform(8.0, 20.0))
    out: list[SimMessage] = []
    for entry in site["homes"]:
        out += _home_traffic(SimHome.from_site(entry), rng, first_day, days, plan.get(entry["code"]), traffic)
    out.sort(key=lambda m: (m.at, m.topic))
    end = start + timedelta(days=days)
    traffic.lines = [ReplayLine(m.at, m.topic, m.payload) for m in out if m.at < end]
    return traffic


def _home_traffic(
    home: SimHome,
    rng: random.Random,
    first_day: date,
    days: int,
    event: tuple[str, int, float] | None,
    traffic: Traffic,
) -> list[SimMessage]:
    state = new_state(home, rng)
    start = _local(first_day, 0)
    messages: list[SimMessage] = startup_messages(state, start)
    silent: list[tuple[datetime, datetime]] = []  # the elder produces no sign (collapse, away)
    extra: list[SimMessage] = []
    away_until: date | None = None
    outs: list[tuple[datetime, datetime]] = []  # the elder is out of the home (errands, walks)
    for n in range(days):
        day = first_day + timedelta(days=n)
        if away_until is not None and day <= away_until:
            continue
        wake = state.wake
        if rng.random() < 0.05:  # slept in
            shifted = datetime.combine(day, wake) + timedelta(minutes=rng.uniform(45, 90))
            state.wake = shifted.time()
        day_msgs = plan_day(state, rng, day)
        state.wake = wake
        roll = rng.random()
        if event is None and roll < 0.04 and n < days - 4:  # a stay away with family, 1–3 nights
            leave = _local(day, rng.uniform(9, 11))
            nights = rng.randint(1, 3)
            back = _local(day + timedelta(days=nights), rng.uniform(15, 19))
            day_msgs = [m for m in day_msgs if m.at < leave]
            extra += _leaving(state, home, leave, rng) + _door_pass(state, home, back, rng)
            silent.append((leave + timedelta(minutes=1), back))
            away_until = day + timedelta(days=nights - 1)
            # The rest of the return day: evening routine only.
            evening = [m for m in plan_day(state, rng, day + timedelta(days=nights)) if m.at > back]
            extra += evening
            if nights >= 1:
                away_until = day + timedelta(days=nights)
        elif roll < 0.08:  # a day trip, 09:00–19:30
            leave, back = _local(day, rng.uniform(8.5, 9.5)), _local(day, rng.uniform(18.5, 20))
            day_msgs = [m for m in day_msgs if not leave - timedelta(minutes=5) <= m.at <= back]
            extra += _leaving(state, home, leave, rng) + _door_pass(state, home, back, rng)
        elif roll < 0.16:  # cleaning day: mopping, laundry by hand
            at = _local(day, rng.uniform(9.5, 14.5))
            extra += _cleaning(state, home, at, rng, day_msgs)
        day_msgs, day_outs = _outings(home, day_msgs)
        outs += day_outs
        messages += day_msgs
    messages += extra
    if event is not None:
        kind, n, hour = event
        at = _local(first_day + timedelta(days=n), hour)
        for out_at, back_at in outs:  # a collapse at home: if the elder is out then, it happens after return
            if out_at <= at <= back_at:
                at = back_at + timedelta(minutes=20)
        if kind in ("collapse_day", "collapse_night"):
            silent.append((at, at + FOUND_AFTER))
            traffic.incidents.append(Incident(home.code, kind, at, at + FOUND_AFTER))
        elif kind == "sos":
            messages += sos_press(state, at)
            traffic.incidents.append(Incident(home.code, kind, at, at + timedelta(hours=1)))
        elif kind == "tap_open":
            messages += _tap(home, at, messages)
            traffic.incidents.append(Incident(home.code, kind, at, at + timedelta(hours=TAP_HOURS)))
        elif kind == "dead_battery":
            messages, fault_end = _dead_battery(home, at, messages)
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
        elif kind == "meter_reset":
            messages = _meter_reset(home, at, messages)
            traffic.faults.append(Fault(home.code, kind, at, at + timedelta(hours=12)))
    # The elder's own signs disappear while silent; the devices go on with their heartbeats.
    if silent:
        messages = [
            m for m in messages if not _elder_sign(home, m) or not any(a <= m.at < b for a, b in silent)
        ]
    messages.sort(key=lambda m: m.at)
    return messages + _heartbeats(home, messages, start, start + timedelta(days=days), rng)


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


def _leaving(state: Any, home: SimHome, at: datetime, rng: random.Random) -> list[SimMessage]:
    """Walking to the door (the hallway sensor sees it), then out."""
    topic = f"zigbee2mqtt/{home.motion}"
    when = at - timedelta(minutes=rng.uniform(1, 3))
    motion = [
        SimMessage(when, topic, json.dumps({"occupancy": occupied, "battery": state.motion_battery}).encode())
        for occupied in (True,)
    ]
    clear = SimMessage(
        when + timedelta(seconds=90),
        topic,
        json.dumps({"occupancy": False, "battery": state.motion_battery}).encode(),
    )
    return [*motion, clear, *_door_pass(state, home, at, rng)]


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
    home: SimHome, at: datetime, messages: list[SimMessage]
) -> tuple[list[SimMessage], datetime]:
    """The motion sensor reports a low battery for two days, then dies; Zigbee2MQTT marks it offline later."""
    topic = f"zigbee2mqtt/{home.motion}"
    dies = at + timedelta(days=2)
    out = []
    for m in messages:
        if m.topic == topic and at <= m.at:
            if m.at >= dies:
                continue
            data = json.loads(m.payload)
            data["battery"] = 8
            m = SimMessage(m.at, m.topic, json.dumps(data, separators=(",", ":")).encode())
        out.append(m)
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
