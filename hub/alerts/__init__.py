"""Alerts: lifecycle (open → … → resolved), persistence with dedup, and notification channels.

The candidates the alerts are made from (`AlertCandidate`, `Severity`) are the rules' output and live in
`hub.models`.
"""

from hub.alerts.errors import AlertError
from hub.alerts.model import AlertState

__all__ = ["AlertError", "AlertState"]
