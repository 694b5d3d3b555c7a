"""The ``[care]`` section of the config: visit frequency, special periods, reminders, export header."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpecialPeriod(_Section):
    """A period of extreme weather (极端恶劣天气) or a traditional festival: visits are raised by `factor`."""

    name: str  # e.g. 春节, 高温
    start: date
    end: date  # inclusive
    factor: Annotated[int, Field(ge=1, le=8)] = 2

    @model_validator(mode="after")
    def _ordered(self) -> SpecialPeriod:
        if self.end < self.start:
            raise ValueError(f"special period {self.name!r}: end {self.end} is before start {self.start}")
        return self


class CareConfig(_Section):
    """How the care programme runs on this hub."""

    # Extreme-weather and festival periods, local dates (see `hub.care.plans.frequency_factor`).
    special_periods: list[SpecialPeriod] = Field(default_factory=list)
    # An overdue task reminds the designated visitor at once, then the community 责任人 this much later.
    escalate_to_responsible_h: Annotated[float, Field(gt=0)] = 48.0
    # A visit task raised by an alert is due this many hours after the alert opened.
    alert_task_due_h: Annotated[float, Field(gt=0)] = 24.0
    # Alert kinds that need a person at the door; empty = every alert of class "elder".
    alert_kinds: list[str] = Field(default_factory=list)
    # Records not reviewed for this many months become review tasks (the notice: every half year).
    review_months: Annotated[int, Field(ge=1, le=24)] = 6
    # People allowed to export unmasked ID numbers (every such export is audited).
    id_viewers: list[str] = Field(default_factory=list)
    # 附件1 header fields (can be overridden per export).
    unit: str = ""  # 填表单位
    leader: str = ""  # 主要领导审核
    filler: str = ""  # 填报人
    # How often the hub's care loop plans tasks and sends reminders.
    interval_s: Annotated[float, Field(ge=1)] = 300.0
    # The first planner run waits this long after start: a restarted hub drains its MQTT backlog (SOS among
    # it) before bookkeeping that scans every elder competes with it for the interpreter.
    first_run_delay_s: Annotated[float, Field(ge=0)] = 60.0
