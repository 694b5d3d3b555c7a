"""WeCom (企业微信) group robot: text messages that @-mention the recipient's mobile number."""

from __future__ import annotations

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.channels.http import PostingChannel, dumps
from hub.alerts.settings import RobotConfig

MAX_BYTES = 2048  # WeCom's limit on text content
# errcode 45009: the robot's rate limit (about 20 a minute); worth trying again later.
RETRYABLE_ERRCODES = frozenset({-1, 45009})


class WeComRobot(PostingChannel):
    """WeCom group robot `Notifier`; use as ``async with``."""

    name = "wecom"

    def __init__(self, config: RobotConfig) -> None:
        if not config.url or not config.token:
            raise NotifyError("wecom: url and HUB_WECOM_KEY are required", retryable=False)
        self._url = f"{config.url}{'&' if '?' in config.url else '?'}key={config.token}"
        super().__init__()

    async def notify(self, notification: Notification) -> str:
        """Post the text; a phone-number recipient is @-mentioned."""
        content = notification.text.encode()[:MAX_BYTES].decode(errors="ignore")
        text: dict[str, object] = {"content": content}
        if notification.recipient.lstrip("+").isdigit():
            text["mentioned_mobile_list"] = [notification.recipient]
        reply = await self._http.post(self._url, dumps({"msgtype": "text", "text": text}))
        code = reply.get("errcode", 0)
        if code != 0:
            raise NotifyError(
                f"wecom: errcode {code}: {reply.get('errmsg', '')}", retryable=code in RETRYABLE_ERRCODES
            )
        return ""
