"""Errors of the sources (MQTT, serial, HTTP)."""

from hub.errors import HubError


class SourceError(HubError):
    """A connection to a broker, serial port or peer failed."""
