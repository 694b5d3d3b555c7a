"""Alert value types: states, severities and the candidate a rule hands to the alert store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlertState(StrEnum):
    """Lifecycle states; `ACTIVE_STATES` are those that hold the one-per-home-and-kind slot."""

    OPEN = "open"
    NOTIFYING = "notifying"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


ACTIVE_STATES = frozenset({AlertState.OPEN, AlertState.NOTIFYING, AlertState.ACKNOWLEDGED})


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
    alert_class: str = "elder"  # elder | device
    cancel: bool = False  # the elder cancelled (SOS cancel action): record it on the active alert
    # Narrows the dedup key below home and kind, e.g. the device of a device-health alert.
    subject: str = ""

    @property
    def dedup_key(self) -> str:
        """One active alert per home and kind (and subject, when there is one)."""
        return f"{self.home}/{self.kind}/{self.subject}" if self.subject else f"{self.home}/{self.kind}"
