"""Errors of the alert machinery."""

from hub.errors import HubError


class AlertError(HubError):
    """An alert operation broke the lifecycle (e.g. acknowledging a resolved alert)."""
