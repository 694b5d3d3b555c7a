"""DingTalk (钉钉) custom robot with signing: timestamp and HMAC-SHA256 signature in the URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.channels.http import PostingChannel, dumps
from hub.alerts.settings import RobotConfig

# 130101: sending too fast; -1: system busy.
RETRYABLE_ERRCODES = frozenset({-1, 130101})


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: urlencode(base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


class DingTalkRobot(PostingChannel):
    """DingTalk robot `Notifier`; use as ``async with``."""

    name = "dingtalk"

    def __init__(self, config: RobotConfig) -> None:
        if not config.url or not config.token or not config.secret:
            raise NotifyError(
                "dingtalk: url, HUB_DINGTALK_TOKEN and HUB_DINGTALK_SECRET are required", retryable=False
            )
        self._config = config
        super().__init__()

    async def notify(self, notification: Notification) -> str:
        """Post a signed text message; a phone-number recipient is @-mentioned."""
        ts = int(time.time() * 1000)  # DingTalk checks it against its own clock (±1 h), so wall time
        sep = "&" if "?" in self._config.url else "?"
        url = (
            f"{self._config.url}{sep}access_token={self._config.token}"
            f"&timestamp={ts}&sign={sign(self._config.secret, ts)}"
        )
        phone = notification.recipient if notification.recipient.lstrip("+").isdigit() else ""
        body = {
            "msgtype": "text",
            "text": {"content": notification.text},
            "at": {"atMobiles": [phone] if phone else [], "isAtAll": False},
        }
        reply = await self._http.post(url, dumps(body))
        code = reply.get("errcode", 0)
        if code != 0:
            raise NotifyError(
                f"dingtalk: errcode {code}: {reply.get('errmsg', '')}", retryable=code in RETRYABLE_ERRCODES
            )
        return ""
