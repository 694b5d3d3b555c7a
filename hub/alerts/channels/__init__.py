"""Notification channels: each implements `Notifier` and reports whether a failure is retryable."""

from hub.alerts.channels.base import Notification, Notifier, NotifyError
from hub.alerts.channels.log import LogNotifier

__all__ = ["LogNotifier", "Notification", "Notifier", "NotifyError"]
