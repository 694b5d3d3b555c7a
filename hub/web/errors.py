"""Errors of the web layer."""

from hub.errors import HubError


class WebError(HubError):
    """The HTTP server could not start (its port is taken, its address is not this machine's …)."""
