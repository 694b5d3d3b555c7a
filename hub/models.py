"""Value types shared by every stage of the pipeline.

`RawMessage` is what a source hands over (topic + bytes); `Reading` is what a decoder produces;
`AlertCandidate` (with its `Severity`) is what a rule produces and the alert store consumes. All are frozen so a
stage can never change what an earlier stage saw. The candidate lives here, not in `hub.alerts`, so that the
rules depend only on these value types and never on the alert package that applies their output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Signal(StrEnum):
    """Every normalised signal a reading can carry, with its canonical unit in `SIGNAL_UNITS`."""

    SOS = "sos"  # 1.0 = pressed, 0.0 = cancelled by the elder
    FALL = "fall"  # 1.0 = fall detected, 0.5 = maybe, 0.0 = none
    WATER_TOTAL = "water_total"  # cumulative litres, monotonic after counter normalisation
    WATER_FLOW = "water_flow"  # litres per hour
    WATER_STATUS = "water_status"  # 0 ok / 1 alarm reported by the meter (leak, burst, …)
    MOTION = "motion"  # 1 motion / 0 none
    PRESENCE = "presence"  # 1 someone there / 0 empty
    CONTACT = "contact"  # 1 = door OPEN, 0 = closed (normalised; Aqara's `contact` is inverted)
    BUTTON = "button"  # any non-emergency button press, value = press count
    OCCUPANCY = "occupancy"  # bed/chair occupancy 1/0
    ILLUMINANCE = "illuminance"  # lx
    HEART_RATE = "heart_rate"  # bpm
    SPO2 = "spo2"  # %
    BP_SYSTOLIC = "bp_systolic"  # mmHg
    BP_DIASTOLIC = "bp_diastolic"  # mmHg
    BODY_TEMP = "body_temp"  # °C
    GAS = "gas"  # 1 gas detected / 0 clear
    SMOKE = "smoke"  # 1 smoke / 0 clear
    LEAK = "leak"  # 1 water leak / 0 dry
    BATTERY = "battery"  # %
    BATTERY_LOW = "battery_low"  # 1 low / 0 ok
    AVAILABILITY = "availability"  # 1 online / 0 offline
    ENERGY_TOTAL = "energy_total"  # kWh
    POWER = "power"  # W
    TEMPERATURE = "temperature"  # °C (room or device)
    LINK_QUALITY = "link_quality"  # 0..255
    STEPS = "steps"  # step count of the day, as a wearable reports it
    LATITUDE = "latitude"  # degrees, north positive, in the datum `GEO_DATUM` gives
    LONGITUDE = "longitude"  # degrees, east positive
    GEO_DATUM = "geo_datum"  # datum of LATITUDE/LONGITUDE at the same time: 0 = WGS-84 (GPS), 1 = GCJ-02
    WRIST_OFF = "wrist_off"  # 1 = the wearable says it was taken off the wrist
    WEIGHT = "weight"  # kg of a person on a scale


SIGNAL_UNITS: dict[Signal, str] = {
    Signal.SOS: "",
    Signal.FALL: "",
    Signal.WATER_TOTAL: "L",
    Signal.WATER_FLOW: "L/h",
    Signal.WATER_STATUS: "",
    Signal.MOTION: "",
    Signal.PRESENCE: "",
    Signal.CONTACT: "",
    Signal.BUTTON: "",
    Signal.OCCUPANCY: "",
    Signal.ILLUMINANCE: "lx",
    Signal.HEART_RATE: "bpm",
    Signal.SPO2: "%",
    Signal.BP_SYSTOLIC: "mmHg",
    Signal.BP_DIASTOLIC: "mmHg",
    Signal.BODY_TEMP: "°C",
    Signal.GAS: "",
    Signal.SMOKE: "",
    Signal.LEAK: "",
    Signal.BATTERY: "%",
    Signal.BATTERY_LOW: "",
    Signal.AVAILABILITY: "",
    Signal.ENERGY_TOTAL: "kWh",
    Signal.POWER: "W",
    Signal.TEMPERATURE: "°C",
    Signal.LINK_QUALITY: "",
    Signal.STEPS: "",
    Signal.LATITUDE: "°",
    Signal.LONGITUDE: "°",
    Signal.GEO_DATUM: "",
    Signal.WRIST_OFF: "",
    Signal.WEIGHT: "kg",
}


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (use a `Clock` in code that must be testable)."""
    return datetime.now(UTC)


# The frozen value types below that are made for every message write their own __init__: a generated
# frozen one looks up object.__setattr__ for each field and then calls __post_init__, which cost 1.5-2.5 us
# a Reading (several per message, a tenth of the ingest CPU); this does the same stores a third faster.
_store = object.__setattr__


@dataclass(frozen=True, slots=True, init=False)
class RawMessage:
    """One message as a source received it: which source, the topic (or a synthetic one), raw bytes."""

    source: str  # "mqtt", "http", "serial", "replay"
    topic: str
    payload: bytes
    received_at: datetime
    # When the delivery path may have held this message before handing it over: (from, until), e.g. the
    # broker's queue for the hub's session between a disconnect and the reconnect. None = delivered live.
    # A device time inside this window is plausible even when it is far older than `received_at`.
    held: tuple[datetime, datetime] | None = None

    def __init__(
        self,
        source: str,
        topic: str,
        payload: bytes,
        received_at: datetime,
        held: tuple[datetime, datetime] | None = None,
    ) -> None:
        if received_at.tzinfo is None:
            raise ValueError(f"RawMessage.received_at must be timezone-aware, got {received_at!r}")
        _store(self, "source", source)
        _store(self, "topic", topic)
        _store(self, "payload", payload)
        _store(self, "received_at", received_at)
        _store(self, "held", held)


@dataclass(frozen=True, slots=True, init=False)
class Reading:
    """One normalised measurement: home, device, signal, value, unit, aware UTC timestamp.

    `ts` is when it happened as the hub believes it: the device's time when plausible, else the hub's receipt
    time. `device_ts` keeps the device's own claim when it was set aside as implausible (None otherwise).
    """

    home: str
    device: str
    signal: Signal
    value: float
    ts: datetime
    unit: str = field(default="")
    device_ts: datetime | None = None

    def __init__(
        self,
        home: str,
        device: str,
        signal: Signal,
        value: float,
        ts: datetime,
        unit: str = "",
        device_ts: datetime | None = None,
    ) -> None:
        if ts.tzinfo is None:
            raise ValueError(f"Reading.ts must be timezone-aware, got {ts!r}")
        _store(self, "home", home)
        _store(self, "device", device)
        _store(self, "signal", signal)
        _store(self, "value", value)
        _store(self, "ts", ts)
        _store(self, "unit", unit or SIGNAL_UNITS[signal])
        _store(self, "device_ts", device_ts)


class Severity(StrEnum):
    """How urgent an alert is; decides the escalation policy."""

    CRITICAL = "critical"
    URGENT = "urgent"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """What a rule proposes: the store opens a new alert or counts a repeat on the active one."""

    home: str
    kind: str  # sos, fall, gas, smoke, leak, …
    severity: Severity
    at: datetime
    device: str
    explanation: str  # Chinese, shown to people
    alert_class: str = "elder"  # elder | device | notice
    cancel: bool = False  # the elder cancelled (SOS cancel action): record it on the active alert
    # Narrows the dedup key below home and kind, e.g. the device of a device-health alert.
    subject: str = ""
    # The rule allows "ask the elder first" (a wellbeing call before anyone is paged): True for the
    # non-immediate elder-class kinds (inactivity, quiet gap, morning check, routine late, low water);
    # False for immediate kinds (SOS, fall, gas, smoke, leak, continuous flow), device and notice alerts.
    check_first: bool = False

    @property
    def dedup_key(self) -> str:
        """One active alert per home and kind (and subject, when there is one)."""
        return f"{self.home}/{self.kind}/{self.subject}" if self.subject else f"{self.home}/{self.kind}"
