"""A generic JSON webhook, signed: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``.

The receiver should check the signature over the raw body and deduplicate on ``Idempotency-Key`` (the
hub delivers at least once).
"""

from __future__ import annotations

import hashlib
import hmac

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.channels.http import PostingChannel, dumps
from hub.alerts.settings import RobotConfig

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature(secret: str, body: bytes) -> str:
    """The header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class JsonWebhook(PostingChannel):
    """Generic webhook `Notifier`; use as ``async with``."""

    name = "webhook"

    def __init__(self, config: RobotConfig) -> None:
        if not config.url or not config.secret:
            raise NotifyError("webhook: url and HUB_WEBHOOK_SECRET are required", retryable=False)
        self._config = config
        super().__init__()

    async def notify(self, notification: Notification) -> str:
        """POST ``{"alert_id", "recipient", "text", "idempotency_key"}``."""
        body = dumps(
            {
                "alert_id": notification.alert_id,
                "recipient": notification.recipient,
                "text": notification.text,
                "idempotency_key": notification.idempotency_key,
            }
        )
        headers = {
            SIGNATURE_HEADER: signature(self._config.secret, body),
            "Idempotency-Key": notification.idempotency_key,
        }
        await self._http.post(self._config.url, body, headers)
        return ""
