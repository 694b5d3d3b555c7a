"""The one interface every channel implements.

A channel sends one message and says how it went; retry, backoff, dedup and fallback live in the
escalation machinery, never inside a channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from hub.alerts.errors import AlertError


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one recipient about one alert."""

    alert_id: int
    recipient: str  # phone number, robot name, "log" …
    text: str  # short Chinese text that fits SMS segments
    idempotency_key: str
    outbox_id: int = 0  # the outbox row: callbacks (delivery status, keypress) name it
    # For template-only channels: the message kind (hub.alerts.templates.MESSAGE_KINDS) and its named
    # values, "text" among them; free-text channels ignore both.
    kind: str = ""
    params: Mapping[str, str] = field(default_factory=dict)


class NotifyError(AlertError):
    """A channel failed; `retryable` tells the escalation machinery whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    """Sends notifications over one channel.

    A channel that can send only one message at a time (a GSM modem) says so with a class attribute
    ``max_concurrent = 1``; the worker then queues its sends outside the send timeout.
    """

    name: str

    async def notify(self, notification: Notification) -> str:
        """Send it and return the provider's message id ("" if none); raise `NotifyError` when it failed."""
        ...
