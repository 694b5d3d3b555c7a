"""The `log` channel: writes each notification to the hub's log (the last resort of every fallback chain)."""

from __future__ import annotations

import logging

from hub.alerts.channels.base import Notification

LOGGER = logging.getLogger("hub.alerts.notify")


class LogNotifier:
    """Logs notifications at WARNING so an operator tailing the log sees every alert."""

    name = "log"

    def __init__(self) -> None:
        self.sent: list[Notification] = []  # kept for the demo page's and tests' inspection

    async def notify(self, notification: Notification) -> str:
        """Log it; this channel cannot fail (it ends every fallback chain)."""
        LOGGER.warning("通知 %s → %s: %s", notification.alert_id, notification.recipient, notification.text)
        self.sent.append(notification)
        del self.sent[:-1000]  # bounded
        return ""
