"""The root error of hub.rules."""

from __future__ import annotations

from hub.errors import HubError


class RulesError(HubError):
    """A rules-engine operation failed (bad calendar entry, unreadable replay file, …); the message says why."""
