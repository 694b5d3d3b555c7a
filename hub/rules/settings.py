"""Rule thresholds in config: one flat `Thresholds` set, with partial overrides per tier and per home.

```toml
[rules.tiers.key]            # 重点对象
inactivity_hours = 12
[rules.homes.H001]           # one home, e.g. an elder who naps long
quiet_gap_min_hours = 6
```
A home's thresholds are the defaults, then its elder's tier, then the home's own entries (later wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _hhmm(value: str) -> time:
    try:
        hh, mm = value.split(":")
        return time(int(hh), int(mm))
    except ValueError as exc:
        raise ValueError(f"must be a local time HH:MM, got {value!r}") from exc


class Thresholds(_Frozen):
    """Every threshold a rule reads; durations in the unit their name says, times of day local HH:MM."""

    # Sign of life / inactivity
    inactivity_hours: Annotated[float, Field(gt=0)] = 24.0
    away_factor: Annotated[float, Field(ge=1)] = 2.0  # the last sign was leaving through the door
    away_after_min: Annotated[float, Field(gt=0)] = 10.0  # no sign inside this long after a door → away
    leave_within_min: Annotated[float, Field(gt=0)] = 10.0  # a door this soon after activity inside = leaving
    # Door then nothing reads as an outing only as long as this elder's outings last (learned: the longest usual
    # one × outing_factor, at least outing_min_hours); after that the silence is judged as one at home.
    outing_factor: Annotated[float, Field(ge=1)] = 1.5
    outing_min_hours: Annotated[float, Field(gt=0)] = 2.0
    # Where the elder can be asked first (a call to her own phone, which she carries when out), an outing that
    # lasts longer than her outings begun at that time of day usually last (the learned upper quantile ×
    # outing_factor, at least outing_min_hours) is an `outing_overdue` check; elsewhere the tier's window judges.
    ask_first: bool = True  # set by the engine from the register (`HomeProfile.can_check`)
    # Where nobody can be asked first, every learned-rule alert pages a person (a false one costs a visit): the
    # learned rules wait this many times longer (a stricter probability threshold), never past the hard window.
    no_check_factor: Annotated[float, Field(ge=1)] = 2.0
    morning_check: str = "10:00"  # "" = no configured morning check
    day_start: str = "04:30"  # signs before this belong to the night, not to the morning
    # Learned routine
    routine_min_days: Annotated[int, Field(ge=3)] = 14
    routine_k: Annotated[float, Field(gt=0)] = 4.0
    routine_spread_floor_min: Annotated[float, Field(ge=1)] = 15.0
    routine_min_margin_min: Annotated[float, Field(ge=0)] = 90.0
    quiet_gap_factor: Annotated[float, Field(ge=1)] = 1.5
    # A lie-in as late as the latest of the learning weeks × this is still her sleep (the extreme of a few weeks
    # underestimates the next one, as with the quiet and outing bounds); never past the hard window.
    lie_in_factor: Annotated[float, Field(ge=1)] = 1.5
    quiet_gap_min_hours: Annotated[float, Field(gt=0)] = 4.0
    # The activity model: a silence is unusual when quiet_gap_factor × the most signs a usual day's silence went
    # without were expected (at least activity_min_expected: P(no sign) = e^-3 ≈ 5 %), and it lasted at least
    # activity_min_hours.
    activity_min_expected: Annotated[float, Field(gt=0)] = 3.0
    activity_min_hours: Annotated[float, Field(gt=0)] = 1.5
    water_low_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.3  # of the usual daily volume → info
    # Water
    water_no_use_litres: Annotated[float, Field(ge=0)] = 10.0
    water_no_use_hours: Annotated[float, Field(gt=0)] = 12.0
    continuous_flow_hours: Annotated[float, Field(gt=0, le=12)] = 2.5
    continuous_slot_litres: Annotated[float, Field(gt=0)] = 15.0
    flow_threshold_lph: Annotated[float, Field(gt=0)] = 300.0
    flow_minutes: Annotated[float, Field(gt=0)] = 60.0
    # Vital signs (clinical defaults for elders at rest)
    heart_rate_low: float = 40.0
    heart_rate_high: float = 130.0
    spo2_low: float = 90.0
    bp_systolic_low: float = 90.0
    bp_systolic_high: float = 180.0
    bp_diastolic_low: float = 50.0
    bp_diastolic_high: float = 110.0
    body_temp_low: float = 35.0
    body_temp_high: float = 38.5
    vital_readings: Annotated[int, Field(ge=1)] = 3
    vital_minutes: Annotated[float, Field(gt=0)] = 10.0
    # Safe zone (安全区域): outside it, an outing longer than `safe_zone_out_factor` × the longest of the last
    # outings (once `SAFE_ZONE_LEARN` are known; `safe_zone_out_hours` until then, and never less than
    # `safe_zone_min_hours`) is "far longer than usual".
    safe_zone_out_hours: Annotated[float, Field(gt=0, le=72)] = 4.0
    safe_zone_out_factor: Annotated[float, Field(ge=1)] = 2.0
    safe_zone_min_hours: Annotated[float, Field(gt=0, le=72)] = 1.0
    # Device health
    battery_low_pct: Annotated[float, Field(ge=0, le=100)] = 15.0
    offline_grace_min: Annotated[float, Field(ge=0)] = 10.0
    silence_factor: Annotated[float, Field(ge=1)] = 3.0

    @field_validator("morning_check", "day_start")
    @classmethod
    def _check_time(cls, v: str) -> str:
        if v:
            _hhmm(v)
        return v

    def local_time(self, name: str) -> time | None:
        """A HH:MM field as a `time` (None when empty)."""
        value: str = getattr(self, name)
        return _hhmm(value) if value else None

    def adjusted(self, factors: Mapping[str, float]) -> Thresholds:
        """These thresholds for a home whose rules tightened after false alarms (alert kind → factor ≥ 1).

        A factor makes its rule wait that many times longer, never beyond the tier's hard window
        (`inactivity_hours`), which itself never moves: it is the backstop that catches every silence.
        """
        hard_h = self.inactivity_hours
        update: dict[str, Any] = {}
        f = factors.get("quiet_gap", 1.0)
        if f > 1.0:
            update["quiet_gap_factor"] = self.quiet_gap_factor * f
            update["quiet_gap_min_hours"] = min(self.quiet_gap_min_hours * f, hard_h)
            update["activity_min_hours"] = min(self.activity_min_hours * f, hard_h)
        f = factors.get("outing_overdue", 1.0)
        if f > 1.0:
            update["outing_factor"] = self.outing_factor * f
            update["outing_min_hours"] = min(self.outing_min_hours * f, hard_h)
        f = factors.get("routine_late", 1.0)
        if f > 1.0:
            update["routine_k"] = self.routine_k * f
            update["routine_min_margin_min"] = self.routine_min_margin_min * f
        f = factors.get("water_no_use", 1.0)
        if f > 1.0:
            update["water_no_use_hours"] = min(
                self.water_no_use_hours * f, max(self.water_no_use_hours, hard_h)
            )
        f = factors.get("morning_check", 1.0)
        check = self.local_time("morning_check")
        if f > 1.0 and check is not None:
            # Later by up to two hours per unit of factor, and never past noon: a morning check stays a morning's.
            minutes = min(check.hour * 60 + check.minute + round((f - 1.0) * 120), 12 * 60)
            update["morning_check"] = f"{minutes // 60:02d}:{minutes % 60:02d}"
        return self.model_copy(update=update) if update else self

    def without_check(self) -> Thresholds:
        """These thresholds for a home whose elder cannot be asked first: the learned rules (`NO_CHECK_KINDS`)
        wait `no_check_factor` times longer, as if tightened after false alarms, and `ask_first` is off."""
        factor = self.no_check_factor
        stricter = self.adjusted(dict.fromkeys(NO_CHECK_KINDS, factor)) if factor > 1.0 else self
        return stricter.model_copy(update={"ask_first": False})


# The learned rules whose evidence must be stronger where nobody can be asked first (see `without_check`): the
# late morning, whose margin is a width, not a probability (a lie-in is the commonest false one). `quiet_gap` is
# calibrated per home on its own weeks already, and waiting longer there is what a collapse by day would cost.
NO_CHECK_KINDS = ("routine_late",)

# Expected report interval of a device when its binding has no `report_interval_s`: by ecosystem.
# Zigbee battery devices report only on events; Zigbee2MQTT itself marks them offline after 1500 min.
DEFAULT_REPORT_INTERVAL_S: dict[str, float] = {
    "zigbee2mqtt": 1500 * 60.0,
    "tasmota": 300.0,
    "esphome": 300.0,
    "shelly": 3600.0,
    "wmbusmeters": 3600.0,
    "cjt188": 3600.0,
    "native": 36 * 3600.0,
}


def _default_tiers() -> dict[str, dict[str, Any]]:
    return {
        "key": {"inactivity_hours": 12.0, "morning_check": "09:00"},
        "general": {"inactivity_hours": 24.0},
    }


class RulesConfig(_Frozen):
    """The rules engine: thresholds, overrides and the periodic jobs."""

    enabled: bool = True
    sweep_interval_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    snapshot_interval_s: Annotated[float, Field(gt=0)] = 300.0
    calendar_refresh_s: Annotated[float, Field(gt=0)] = 60.0
    learn_at: str = "03:30"  # local time of the nightly learning job
    learn_days: Annotated[int, Field(ge=3, le=90)] = 28
    rebuild_max_hours: Annotated[float, Field(gt=0)] = 48.0  # how far back a home without snapshot is rebuilt
    defaults: Thresholds = Thresholds()
    tiers: dict[str, dict[str, Any]] = Field(default_factory=_default_tiers)
    homes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    report_interval_s: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_REPORT_INTERVAL_S))

    @field_validator("learn_at")
    @classmethod
    def _check_learn_at(cls, v: str) -> str:
        _hhmm(v)
        return v

    @model_validator(mode="after")
    def _check_overrides(self) -> RulesConfig:
        # An override with a typo or a bad value must fail at start, naming where it is.
        for where, table in (("tiers", self.tiers), ("homes", self.homes)):
            for name, override in table.items():
                try:
                    Thresholds.model_validate({**self.defaults.model_dump(), **override})
                except ValidationError as exc:
                    first = exc.errors()[0]
                    key = ".".join(str(p) for p in first["loc"])
                    raise ValueError(f"{where}.{name}.{key}: {first['msg']}") from None
        return self

    def thresholds(self, tier: str, home: str) -> Thresholds:
        """The thresholds of `home` whose elder has `tier` (defaults ← tier ← home)."""
        merged = {**self.defaults.model_dump(), **self.tiers.get(tier, {}), **self.homes.get(home, {})}
        return Thresholds.model_validate(merged)

    @property
    def learn_time(self) -> time:
        """`learn_at` as a local `time`."""
        return _hhmm(self.learn_at)
