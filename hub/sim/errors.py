"""Errors of the home simulator."""

from hub.errors import HubError


class SimError(HubError):
    """The simulator cannot run: a bad argument (broker URL, home count) or a broker it cannot use."""
