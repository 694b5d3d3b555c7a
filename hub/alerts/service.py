"""The alert service the hub runs: channels from the config, the escalator hook and the delivery worker.

async with AlertService(config.alerts, sessions, clock, timezone) as alerts:
    RegisterWriter(sessions, on_alert_changes=alerts.escalator.on_alert_changes)
    Pipeline(..., on_alerts_committed=alerts.committed)
    asyncio.create_task(alerts.worker.run())
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.channels.aliyun import AliyunChannels
from hub.alerts.channels.base import Notifier
from hub.alerts.channels.dingtalk import DingTalkRobot
from hub.alerts.channels.gsm import GsmModem
from hub.alerts.channels.log import LogNotifier
from hub.alerts.channels.tencent import TencentChannels
from hub.alerts.channels.twilio import TwilioChannels
from hub.alerts.channels.webhook import JsonWebhook
from hub.alerts.channels.wecom import WeComRobot
from hub.alerts.coverage import Gap, coverage_gaps
from hub.alerts.escalation import Escalator
from hub.alerts.outbox import enqueue
from hub.alerts.replies import ReplyOutcome, handle_reply
from hub.alerts.settings import AlertsConfig
from hub.alerts.store import AlertChange
from hub.alerts.worker import AlertWorker
from hub.clock import Clock

LOGGER = logging.getLogger(__name__)

# Start-up log lines about coverage gaps; the rest are counted (the board lists every one).
GAPS_LOGGED = 20


class AlertService:
    """Owns the channels (opened on enter), the `Escalator` and the `AlertWorker`."""

    def __init__(
        self,
        config: AlertsConfig,
        sessions: sessionmaker[Session],
        clock: Clock,
        timezone: str = "Asia/Shanghai",
        extra_channels: Sequence[Notifier] = (),
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.clock = clock
        self.escalator = Escalator(config, clock, timezone)
        self.log = LogNotifier()
        self._extra = list(extra_channels)
        self._stack = AsyncExitStack()
        self.channels: dict[str, Notifier] = {}
        self.worker = AlertWorker(sessions, self.escalator, self.channels, config, clock)
        self.gaps: list[Gap] = []  # found at start-up; GET /api/v1/alerts/coverage checks again

    async def __aenter__(self) -> AlertService:
        cfg = self.config
        channels: dict[str, Notifier] = {"log": self.log}
        if cfg.twilio.enabled:
            twilio = await self._stack.enter_async_context(TwilioChannels(cfg.twilio, cfg.public_url))
            channels[twilio.sms.name] = twilio.sms
            channels[twilio.voice.name] = twilio.voice
        # Domestic providers: each of SMS and voice joins when its own part is configured.
        if cfg.aliyun.sms_enabled or cfg.aliyun.voice_enabled:
            aliyun = await self._stack.enter_async_context(AliyunChannels(cfg.aliyun))
            self._add(channels, aliyun.sms, cfg.aliyun.sms_enabled)
            self._add(channels, aliyun.voice, cfg.aliyun.voice_enabled)
        if cfg.tencent.sms_enabled or cfg.tencent.voice_enabled:
            tencent = await self._stack.enter_async_context(TencentChannels(cfg.tencent))
            self._add(channels, tencent.sms, cfg.tencent.sms_enabled)
            self._add(channels, tencent.voice, cfg.tencent.voice_enabled)
        if cfg.gsm.url:
            modem = await self._stack.enter_async_context(GsmModem(cfg.gsm, on_sms=self._modem_sms))
            channels[modem.name] = modem
        robots: list[WeComRobot | DingTalkRobot | JsonWebhook] = []
        if cfg.wecom.url:
            robots.append(WeComRobot(cfg.wecom))
        if cfg.dingtalk.url:
            robots.append(DingTalkRobot(cfg.dingtalk))
        if cfg.webhook.url:
            robots.append(JsonWebhook(cfg.webhook))
        for robot in robots:
            channels[robot.name] = await self._stack.enter_async_context(robot)
        for extra in self._extra:
            channels[extra.name] = extra
        self.channels.update(channels)  # the worker holds this very dict
        LOGGER.info("告警通知渠道: %s", ", ".join(sorted(self.channels)))
        self.gaps = await asyncio.to_thread(self.check_coverage)
        return self

    @staticmethod
    def _add(channels: dict[str, Notifier], channel: Notifier, enabled: bool) -> None:
        if enabled:
            channels[channel.name] = channel

    def check_coverage(self) -> list[Gap]:
        """Log every hole in the safety net as a configuration error (the hub still starts)."""
        with self.sessions() as session:
            gaps = coverage_gaps(session, self.config)
        for gap in gaps[:GAPS_LOGGED]:
            log = LOGGER.error if gap.level == "error" else LOGGER.warning
            log("配置错误 configuration error: %s", gap.problem)
        if len(gaps) > GAPS_LOGGED:
            LOGGER.error("配置错误 configuration error: 另有 %d 项未列出，见看板", len(gaps) - GAPS_LOGGED)
        return gaps

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def committed(self, changes: Sequence[AlertChange]) -> None:
        """Post-commit hook of the pipeline: new outbox rows exist, send them now rather than at the poll."""
        if changes:
            self.worker.wake()

    async def reply(self, phone: str, body: str, *, via: str) -> ReplyOutcome:
        """Apply an inbound SMS or keypress from `phone` (in a thread, one transaction)."""

        def apply() -> ReplyOutcome:
            with self.sessions.begin() as session:
                return handle_reply(
                    session, phone, body, via=via, at=self.clock.now(), tighten=self.config.tighten
                )

        return await asyncio.to_thread(apply)

    async def _modem_sms(self, sender: str, body: str) -> None:
        """An SMS arrived at the modem: apply it and answer through the outbox (modem first)."""
        outcome = await self.reply(sender, body, via="短信(GSM)")
        now = self.clock.now()

        def answer() -> None:
            with self.sessions.begin() as session:
                enqueue(
                    session,
                    alert_id=outcome.alert_id,
                    key=f"reply-{sender}-{now.timestamp():.6f}",
                    purpose="reply",
                    role="",
                    name="",
                    address=sender,
                    route="sms",
                    text=outcome.answer,
                    at=now,
                    template="reply",
                )

        await asyncio.to_thread(answer)
        self.worker.wake()
