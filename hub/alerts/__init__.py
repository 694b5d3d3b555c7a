"""Alerts: lifecycle (open → … → resolved), persistence with dedup, and notification channels."""

from hub.alerts.errors import AlertError
from hub.alerts.model import AlertCandidate, AlertState, Severity

__all__ = ["AlertCandidate", "AlertError", "AlertState", "Severity"]
