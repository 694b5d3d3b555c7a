"""The root error of hub.deploy."""

from __future__ import annotations

from hub.errors import HubError


class DeployError(HubError):
    """Broker configuration, credentials or a backup could not be made; the message says what and why."""
