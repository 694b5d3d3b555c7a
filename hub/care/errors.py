"""The root error of the care programme package."""

from __future__ import annotations

from hub.errors import HubError


class CareError(HubError):
    """Something in the care programme went wrong; the message says what, in terms a user understands."""
