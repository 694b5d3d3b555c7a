"""Alert lifecycle states and which of them are active.

The severity and the candidate a rule hands to the alert store are the rules' output, value types like
`Reading`: they live in `hub.models`, so that the rules import nothing from alerts.
"""

from __future__ import annotations

from enum import StrEnum


class AlertState(StrEnum):
    """Lifecycle states; `ACTIVE_STATES` are those that hold the one-per-home-and-kind slot."""

    OPEN = "open"
    NOTIFYING = "notifying"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


ACTIVE_STATES = frozenset({AlertState.OPEN, AlertState.NOTIFYING, AlertState.ACKNOWLEDGED})
