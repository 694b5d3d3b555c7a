"""Per-home and per-device state the rules keep in memory, and what counts as a sign of life.

Memory matters (100,000 homes in ≤ 2 KB each), so the state is `__slots__` objects holding epoch seconds
(floats) rather than datetimes, a half-hour water histogram in a small `array`, and thresholds shared
between homes. Everything here is plain data; the rules read and update it.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from hub.models import Signal
from hub.rules.settings import Thresholds

SLOT_S = 1800.0  # water histogram slot: 30 minutes
SLOTS = 24  # 12 hours of slots, the longest window a water rule looks back over
SLOT_MAX = 65535  # slots hold decilitres in 16 bits (6,553 L per half hour is far beyond any household)
NEVER = math.inf
# Learned signs per hour are kept in bytes: 0.025 steps up to 6.375 (6 is the most there is).
RATE_SCALE = 40.0
QUIET_SCALE = 10.0  # calibrated expected counts in bytes: 0.1 steps (rounded up) up to 25.5
QUIET_BLOCK_H = 3  # the calibration is per block of this many local hours
OUTING_SCALE = 10.0  # learned outing lengths in bytes: 10-minute steps (rounded up) up to 42.5 h
CLOCK_REPORTED = -math.inf
# A device's "beat" is its longest usual gap between two messages (check-ins included), forgotten over about a
# week. A dead sensor's check-ins stop too; a collapsed elder's sensors go on checking in. A sensor that only
# reports events keeps a beat as long as the night, so its silence alone never reads as a fault. Until weeks of
# traffic have taught it, the beat starts from a day: a new device is never called dead for a short silence.
BEAT_MEMORY_S = 7 * 86400.0
BEAT_PRIOR_S = 86400.0
BEAT_FACTOR = 3.0  # silent this many beats (and at least BEAT_MIN_S) → the device is failing
BEAT_MIN_S = 2 * 3600.0
# A device that reported a low battery and has then sent nothing at all for this long is taken for dead.
LOW_BATTERY_SILENT_S = 2 * 3600.0

# Signals whose *change* is a sign of life (a heartbeat repeating the cached state is not one).
_EDGE_BITS: dict[Signal, int] = {
    Signal.MOTION: 1,
    Signal.PRESENCE: 2,
    Signal.CONTACT: 4,
    Signal.OCCUPANCY: 8,
}
# Signals where any report with value > 0 is an action of the elder.
_EVENT_SIGNALS = frozenset({Signal.BUTTON, Signal.SOS})
SIGN_SIGNALS = frozenset({*_EDGE_BITS, *_EVENT_SIGNALS, Signal.WATER_TOTAL})

SIGN_WORDS: dict[Signal, str] = {
    Signal.MOTION: "有人活动",
    Signal.PRESENCE: "有人进入",
    Signal.CONTACT: "门磁开关门",
    Signal.OCCUPANCY: "起床/离座",
    Signal.BUTTON: "按键",
    Signal.SOS: "按下呼叫按钮",
    Signal.WATER_TOTAL: "用水",
}


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the nightly job learned about one home from its last weeks (minutes are local, after midnight)."""

    days: int  # days with data behind the figures
    first_median_min: float  # usual time of the first sign of the day
    first_spread_min: float  # its spread (robust: 1.4826 × MAD)
    water_median_l: float  # usual daily water volume
    water_spread_l: float
    gap_p90_min: float  # the longest daytime quiet spell on a usual day (90th percentile of daily maxima)
    last_median_min: float  # usual time of the last sign of the day (bedtime), may exceed 1440
    last_spread_min: float
    # The activity model: per local hour, how many 10-minute spells with a sign there usually are (0..6), as
    # bytes of RATE_SCALE steps (24 bytes a home); empty = not learned (a baseline from before the model).
    rates: bytes = b""
    # The calibration: per 3-hour block of the local hour a silence began in, the largest expected count of
    # signs that a silence of a learned day went without, in bytes of QUIET_SCALE steps (8 bytes a home).
    quiet_expected: bytes = b""
    # The longest outing of the learning weeks (door, then nothing inside until back), minutes; -1 = not learned.
    outing_max_min: float = -1.0
    # How long her outings usually last, per 3-hour block of the local hour she left in: the upper quantile
    # (nearest-rank 90th percentile) of the learning weeks' outings begun in that block, or of all of them where
    # none began in it; bytes of OUTING_SCALE minutes (8 bytes a home); empty = not learned.
    outing_limits: bytes = b""
    # Sleep as her weeks showed it (minutes; -1 = not learned): the latest she got up after her usual time, and
    # the earliest she went to bed before hers, over the learning weeks' nights (a night counts when she was
    # seen inside in the evening and again inside the next morning, within a day).
    first_late_min: float = -1.0
    last_early_min: float = -1.0

    def outing_limit(self, start_min: float) -> float:
        """How long an outing begun at local minute `start_min` usually lasts at most (minutes; -1 = unknown)."""
        if not self.outing_limits:
            return -1.0
        return self.outing_limits[int(start_min // 60) % 24 // QUIET_BLOCK_H] * OUTING_SCALE

    def quiet_limit(self, start_min: float) -> float:
        """The most signs a usual silence that began at local minute `start_min` went without (0 = none seen)."""
        block = int(start_min // 60) % 24 // QUIET_BLOCK_H
        return self.quiet_expected[block] / QUIET_SCALE if self.quiet_expected else 0.0

    def rate(self, hour: int) -> float:
        """Usual signs per hour (10-minute spells with a sign) at local `hour`."""
        return self.rates[hour % 24] / RATE_SCALE

    def expected(self, start_min: float, end_min: float) -> float:
        """Expected signs between two local minutes (after the same midnight, may pass 1440)."""
        total = 0.0
        m = start_min
        while m < end_min:
            edge = min(end_min, (m // 60 + 1) * 60)
            total += self.rates[int(m // 60) % 24] * (edge - m)
            m = edge
        return total / (60.0 * RATE_SCALE)

    def reach(self, start_min: float, target: float, limit_min: float) -> float:
        """The local minute by which `target` signs were expected since `start_min`; inf if not by `limit_min`."""
        need = target * 60.0 * RATE_SCALE
        if need <= 0:
            return start_min
        m = start_min
        while m < limit_min:
            edge = min(limit_min, (m // 60 + 1) * 60)
            step = self.rates[int(m // 60) % 24] * (edge - m)
            if step >= need:
                return m + need / self.rates[int(m // 60) % 24]
            need -= step
            m = edge
        return NEVER

    def to_json(self) -> list[Any]:
        """Compact form for the snapshot."""
        return [
            self.days,
            self.first_median_min,
            self.first_spread_min,
            self.water_median_l,
            self.water_spread_l,
            self.gap_p90_min,
            self.last_median_min,
            self.last_spread_min,
            self.rates.hex(),
            self.quiet_expected.hex(),
            self.outing_max_min,
            self.outing_limits.hex(),
            self.first_late_min,
            self.last_early_min,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> Baseline:
        """Inverse of `to_json` (a snapshot from before the activity model restores without it)."""
        first, first_spread, water, water_spread, gap, last, last_spread = (float(x) for x in data[1:8])
        base = cls(int(data[0]), first, first_spread, water, water_spread, gap, last, last_spread)
        if len(data) > 8:
            base = replace(base, rates=bytes.fromhex(data[8]), quiet_expected=bytes.fromhex(data[9]))
            base = replace(base, outing_max_min=float(data[10]))
        if len(data) > 11:  # snapshots before the outing lengths per time of day restore without them
            base = replace(base, outing_limits=bytes.fromhex(data[11]))
        if len(data) > 13:  # snapshots before the learned nights restore without them
            base = replace(base, first_late_min=float(data[12]), last_early_min=float(data[13]))
        return base


class DeviceState:
    """What the engine remembers about one device."""

    __slots__ = (
        "battery_low",
        "beat",
        "clock_off_since",
        "code",
        "edge_known",
        "edge_value",
        "interval_s",
        "last_seen",
        "last_total",
        "offline_since",
        "signs",
        "silent_alerted",
    )

    def __init__(self, code: str, interval_s: float, last_seen: float) -> None:
        self.code = code
        self.interval_s = interval_s
        self.last_seen = last_seen
        self.offline_since = NEVER  # availability 0 received at this time; NEVER = online
        self.battery_low = False
        self.silent_alerted = False
        self.edge_known = 0  # bit per edge signal: a previous value is known
        self.edge_value = 0  # bit per edge signal: that previous value was "on"
        self.last_total = NEVER  # last water total (litres); NEVER = none yet
        self.signs = 0.0  # decayed count of signs this device carried: how much the home relies on it
        self.beat = BEAT_PRIOR_S  # longest usual gap between its messages (s)
        # Receipt time (epoch s) since which every reading carried an implausible device time; NEVER = the
        # clock looks fine; CLOCK_REPORTED = the finding was raised (until a reading without one).
        self.clock_off_since = NEVER

    def is_sign(self, signal: Signal, value: float) -> bool:
        """Whether this reading is a sign of life, updating the edge memory (water is handled apart)."""
        bit = _EDGE_BITS.get(signal)
        if bit is not None:
            on = value > 0
            known = self.edge_known & bit
            was_on = self.edge_value & bit
            self.edge_known |= bit
            if on:
                self.edge_value |= bit
            else:
                self.edge_value &= ~bit
            if signal is Signal.CONTACT:  # the door opening or closing: someone moved it
                return bool(known) and bool(was_on) != on
            return on and bool(known) and not was_on
        return signal in _EVENT_SIGNALS and value > 0

    def down(self, now: float, factor: float) -> bool:
        """Offline, or silent for longer than `factor` report intervals."""
        return self.offline_since <= now or now - self.last_seen > self.interval_s * factor

    def seen(self, ts: float) -> None:
        """A message from the device at `ts`: learn its beat and move `last_seen`."""
        gap = ts - self.last_seen
        if gap > 0:
            self.beat = max(gap, self.beat * max(0.0, 1.0 - gap / BEAT_MEMORY_S))
            self.last_seen = ts

    def failing(self, now: float, factor: float) -> str:
        """Why the device looks broken at `now` ("" = it does not): a device-health signal.

        Down (offline, or past its report interval), or silent far beyond its own usual beat, or a low battery
        followed by silence: what a dying or unreachable sensor looks like, as opposed to an elder who went quiet.
        """
        if self.down(now, factor):
            return "离线" if self.offline_since <= now else "失联"
        silent = now - self.last_seen
        if silent > max(BEAT_FACTOR * self.beat, BEAT_MIN_S):
            return "失联"
        if self.battery_low and silent > LOW_BATTERY_SILENT_S:
            return "电量低后无上报"
        return ""

    def to_json(self) -> list[Any]:
        """Compact form for the snapshot."""
        return [
            self.code,
            self.last_seen,
            None if self.offline_since == NEVER else self.offline_since,
            int(self.battery_low) | (int(self.silent_alerted) << 1),
            self.edge_known,
            self.edge_value,
            None if self.last_total == NEVER else self.last_total,
            round(self.signs, 3),
            round(self.beat),
        ]

    def restore(self, data: list[Any]) -> None:
        """Inverse of `to_json` (the code comes from the binding)."""
        self.last_seen = float(data[1])
        self.offline_since = NEVER if data[2] is None else float(data[2])
        self.battery_low = bool(data[3] & 1)
        self.silent_alerted = bool(data[3] & 2)
        self.edge_known, self.edge_value = int(data[4]), int(data[5])
        self.last_total = NEVER if data[6] is None else float(data[6])
        self.signs = float(data[7])
        self.beat = float(data[8]) if len(data) > 8 else BEAT_PRIOR_S  # snapshots before the beat was kept


# Bits of `HomeState.alerted`: an episode already raised, so a sweep does not raise it again.
INACTIVE = 1
UNKNOWN = 2
MORNING = 4
ROUTINE = 8
QUIET = 16
NO_WATER = 32
FLOW = 64
LOW_WATER_DAY = 128
# Bits that a new sign of life clears (the episode is over).
SIGN_CLEARS = INACTIVE | UNKNOWN | QUIET | NO_WATER


@dataclass(frozen=True, slots=True)
class SafeZone:
    """An elder's 安全区域: a circle (degrees, metres) in a datum (0 = WGS-84, 1 = GCJ-02, as `GEO_DATUM`)."""

    lat: float
    lon: float
    radius_m: float
    datum: float = 0.0


class HomeState:
    """Everything the rules know about one home right now."""

    __slots__ = (
        "alerted",
        "armed",
        "code",
        "day",
        "day_first",
        "day_water",
        "devices",
        "door_gap",
        "fix",
        "flow_since",
        "last_door",
        "last_inside",
        "last_sign",
        "last_sign_what",
        "learned",
        "outing",
        "outings",
        "since",
        "slot",
        "slots",
        "street",
        "th",
        "tier",
        "vitals",
        "zone",
    )

    def __init__(self, code: str, tier: str, street: str, th: Thresholds, now: float) -> None:
        self.code = code
        self.since = now  # the engine has watched this home since (no verdict about before)
        self.tier = tier
        self.street = street
        self.th = th  # shared between homes with the same tier and no override
        self.devices: dict[str, DeviceState] = {}
        # A home starts as if a sign had just been seen: no alert for a past the hub never saw.
        self.last_sign = now
        self.last_sign_what = ""
        self.last_door = -NEVER
        self.door_gap = NEVER  # time from the last sign inside to the last door event: short = leaving
        self.last_inside = now
        self.day = -1.0  # start (epoch s) of the local rule day the `day_*` fields are about
        self.day_first = NEVER  # first sign after day_start on `day`
        self.day_water = 0.0  # litres used on `day`
        self.slot = int(now // SLOT_S)  # slot number of slots[-1]
        self.slots = array("H", bytes(2 * SLOTS))  # decilitres per half-hour, oldest first
        self.flow_since = NEVER  # WATER_FLOW above threshold since
        self.vitals: dict[str, tuple[float, int]] | None = None  # signal → (out of bounds since, count)
        self.learned: Baseline | None = None
        # Safe zone (hub.rules.geofence): the zone from the register, the position being assembled from one
        # report's readings [ts, datum, lat, datum mismatch told], the current outing [left at, alerted bits]
        # and the durations (s) of the last outings, oldest first.
        self.zone: SafeZone | None = None
        self.fix: list[float] | None = None
        self.outing: list[float] | None = None
        # A tuple until she has outings: the empty tuple is shared, an empty list would cost 56 bytes a home.
        self.outings: Sequence[float] = ()
        self.alerted = 0
        self.armed = NEVER  # the time of this home's entry in the deadline heap

    def roll_slots(self, ts: float) -> None:
        """Advance the water histogram so that its last slot holds `ts` (older slots fall off)."""
        slot = int(ts // SLOT_S)
        shift = slot - self.slot
        if shift <= 0:
            return
        if shift >= SLOTS:
            self.slots = array("H", bytes(2 * SLOTS))
        else:
            del self.slots[:shift]
            self.slots.extend([0] * shift)
        self.slot = slot

    def sign_devices_down(self, now: float, *, doubtful: bool = False) -> bool:
        """True when the devices the home's signs of life rely on are down: the verdict would be a guess.

        With `doubtful`, a device reporting a low battery counts as down too (it is about to die, and what
        it does not report makes a usual day look unusual): the learned rules use this stricter reading.
        """
        return bool(self.failing_sign_devices(now, doubtful=doubtful))

    def failing_sign_devices(self, now: float, *, doubtful: bool = False) -> list[tuple[DeviceState, str]]:
        """The failing devices (with why) when those the home's signs rely on are failing; [] otherwise.

        Failing is `DeviceState.failing` (offline, silent past its report interval or far past its own beat,
        a low battery and then silence). With `doubtful`, any low battery counts, and a smaller share suffices.
        """
        total = 0.0
        down = 0.0
        capable_up = False
        failing: list[tuple[DeviceState, str]] = []
        for dev in self.devices.values():
            if dev.signs <= 0:
                continue
            total += dev.signs
            why = dev.failing(now, self.th.silence_factor) or (
                "电量低" if doubtful and dev.battery_low else ""
            )
            if why:
                down += dev.signs
                failing.append((dev, why))
            else:
                capable_up = True
        # Strict reading: losing any device with a real share of the signs changes what a usual day looks like.
        if total > 0 and (not capable_up or down > (0.1 if doubtful else 0.5) * total):
            return failing
        return []

    def to_json(self) -> dict[str, Any]:
        """Compact snapshot of this home."""
        return {
            "ls": self.last_sign,
            "sn": self.since,
            "lw": self.last_sign_what,
            "ld": None if self.last_door == -NEVER else self.last_door,
            "li": self.last_inside,
            "dg": None if self.door_gap == NEVER else self.door_gap,
            "d": [self.day, None if self.day_first == NEVER else self.day_first, round(self.day_water, 2)],
            "s": [self.slot, list(self.slots)],
            "f": None if self.flow_since == NEVER else self.flow_since,
            "v": dict(self.vitals) if self.vitals else None,
            "b": None if self.learned is None else self.learned.to_json(),
            "a": self.alerted,
            "o": self.outing,
            "oh": self.outings,
            "dev": [dev.to_json() for dev in self.devices.values()],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Inverse of `to_json`; devices not bound any more are dropped, new ones keep their fresh state."""
        self.last_sign = float(data["ls"])
        self.since = float(data["sn"])
        self.last_sign_what = str(data["lw"])
        self.last_door = -NEVER if data["ld"] is None else float(data["ld"])
        self.last_inside = float(data["li"])
        self.door_gap = NEVER if data["dg"] is None else float(data["dg"])
        day, first, water = data["d"]
        self.day, self.day_first, self.day_water = float(day), NEVER if first is None else float(first), water
        self.slot = int(data["s"][0])
        self.slots = array("H", (int(x) for x in data["s"][1]))
        self.flow_since = NEVER if data["f"] is None else float(data["f"])
        self.vitals = {k: (float(v[0]), int(v[1])) for k, v in data["v"].items()} if data["v"] else None
        self.learned = None if data["b"] is None else Baseline.from_json(data["b"])
        self.alerted = int(data["a"])
        # Snapshots of hubs older than the safe-zone rule have neither key.
        self.outing = [float(x) for x in data["o"]] if data.get("o") else None
        self.outings = tuple(float(x) for x in data.get("oh") or ())
        for item in data["dev"]:
            dev = self.devices.get(item[0])
            if dev is not None:
                dev.restore(item)
