"""The `log` channel: writes each notification to the hub's log (the last resort of every fallback chain)."""

from __future__ import annotations

import logging

from hub.alerts.channels.base import Notification
from hub.care.idcard import mask_phones

LOGGER = logging.getLogger("hub.alerts.notify")


class LogNotifier:
    """Logs notifications at WARNING so an operator tailing the log sees every alert.

    Phone numbers are masked in the log line (138****5678), the recipient's and any in the text: a log
    file is copied, shipped and kept without the audit that guards the register; staff get the full
    numbers from the register through its audited reveal (`POST /api/v1/elders/{code}/reveal`)."""

    name = "log"

    def __init__(self) -> None:
        self.sent: list[Notification] = []  # kept for the demo page's and tests' inspection

    async def notify(self, notification: Notification) -> str:
        """Log it; this channel cannot fail (it ends every fallback chain)."""
        LOGGER.warning(
            "通知 %s → %s: %s",
            notification.alert_id,
            mask_phones(notification.recipient),
            mask_phones(notification.text),
        )
        self.sent.append(notification)
        del self.sent[:-1000]  # bounded
        return ""
