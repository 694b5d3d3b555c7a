"""Errors of the time-series store."""

from hub.errors import HubError


class StoreError(HubError):
    """The time-series store failed in a way the caller must hear about."""
