"""The `log` channel: writes each notification to the hub's log (the stand-in until real escalation)."""

from __future__ import annotations

import logging

from hub.alerts.channels.base import Notification

LOGGER = logging.getLogger("hub.alerts.notify")


class LogNotifier:
    """Logs notifications at WARNING so an operator tailing the log sees every alert."""

    name = "log"

    def __init__(self) -> None:
        self.sent: list[Notification] = []  # kept for the demo page's and tests' inspection

    async def notify(self, notification: Notification) -> None:
        """Log it; this channel cannot fail."""
        LOGGER.warning("通知 %s → %s: %s", notification.alert_id, notification.recipient, notification.text)
        self.sent.append(notification)
        del self.sent[:-1000]  # bounded
