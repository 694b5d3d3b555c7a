"""The alert service the hub runs: channels from the config, the escalator hook and the delivery worker.

async with AlertService(config.alerts, sessions, clock, timezone) as alerts:
    RegisterWriter(sessions, on_alert_changes=alerts.escalator.on_alert_changes)
    Pipeline(..., on_alerts_committed=alerts.committed)
    asyncio.create_task(alerts.worker.run())
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from types import TracebackType

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts import elder_check
from hub.alerts.channels.base import Notifier
from hub.alerts.channels.dingtalk import DingTalkRobot
from hub.alerts.channels.gsm import GsmModem
from hub.alerts.channels.gsm_voice import GsmVoice
from hub.alerts.channels.log import LogNotifier
from hub.alerts.channels.twilio import TwilioChannels
from hub.alerts.channels.webhook import JsonWebhook
from hub.alerts.channels.wecom import WeComRobot
from hub.alerts.coverage import Gap, coverage_gaps
from hub.alerts.escalation import Escalator
from hub.alerts.outbox import SENT, enqueue
from hub.alerts.replies import ReplyOutcome, handle_reply
from hub.alerts.settings import AlertsConfig
from hub.alerts.store import AlertChange
from hub.alerts.tables import OutboxMessage
from hub.alerts.worker import AlertWorker, fall_back, provider_failed
from hub.clock import Clock
from hub.cluster import HomeScope

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
        fence: Callable[[Session], None] | None = None,
        scope: Callable[[], HomeScope] | None = None,
        on_round: Callable[[float], None] | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.clock = clock
        self.escalator = Escalator(config, clock, timezone)
        self.log = LogNotifier()
        self._extra = list(extra_channels)
        self._stack = AsyncExitStack()
        self.channels: dict[str, Notifier] = {}
        self.worker = AlertWorker(
            sessions,
            self.escalator,
            self.channels,
            config,
            clock,
            fence=fence,
            scope=scope,
            on_round=on_round,
        )
        self.gaps: list[Gap] = []  # found at start-up; GET /api/v1/alerts/coverage checks again
        # Hub-wide channel problems found when the channels opened (a modem that failed its voice probe).
        self.channel_gaps: list[Gap] = []

    async def __aenter__(self) -> AlertService:
        cfg = self.config
        channels: dict[str, Notifier] = {"log": self.log}
        if cfg.twilio.enabled:
            twilio = await self._stack.enter_async_context(TwilioChannels(cfg.twilio, cfg.public_url))
            channels[twilio.sms.name] = twilio.sms
            channels[twilio.voice.name] = twilio.voice
        # Domestic providers: each of SMS and voice joins when its own part is configured. Their SDKs are
        # imported only then: together they took half a second of every hub's start-up (and of a
        # partitioned instance's restart) on a 2-core box, with neither configured.
        if cfg.aliyun.sms_enabled or cfg.aliyun.voice_enabled:
            from hub.alerts.channels.aliyun import AliyunChannels

            aliyun = await self._stack.enter_async_context(AliyunChannels(cfg.aliyun))
            self._add(channels, aliyun.sms, cfg.aliyun.sms_enabled)
            self._add(channels, aliyun.voice, cfg.aliyun.voice_enabled)
        if cfg.tencent.sms_enabled or cfg.tencent.voice_enabled:
            from hub.alerts.channels.tencent import TencentChannels

            tencent = await self._stack.enter_async_context(TencentChannels(cfg.tencent))
            self._add(channels, tencent.sms, cfg.tencent.sms_enabled)
            self._add(channels, tencent.voice, cfg.tencent.voice_enabled)
        modem_voice: GsmVoice | None = None
        if cfg.gsm.url:
            modem = await self._stack.enter_async_context(GsmModem(cfg.gsm, on_sms=self._modem_sms))
            channels[modem.name] = modem
            voice = GsmVoice(modem, cfg.gsm, on_key=self._modem_key, on_unreached=self._modem_unreached)
            modem_voice = await self._stack.enter_async_context(voice)
            if modem_voice.ready:
                channels[modem_voice.name] = modem_voice
                if modem_voice.name in cfg.routes["voice"]:
                    self.escalator.can_call_elder = True
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
        if modem_voice is not None and cfg.gsm.voice != "none" and not modem_voice.ready:
            problem = f"GSM 调制解调器未通过语音按键检测（{modem_voice.why}）：询问老人只发短信（回复1）"
            self.channel_gaps.append(Gap(None, "warning", problem))
        self.gaps = [*await asyncio.to_thread(self.check_coverage), *self.channel_gaps]
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

    async def keypress(self, row: int | ColumnElement[bool], digits: str, *, via: str) -> str:
        """A key pressed on the call of outbox row `row` (its id, or a condition naming it by the provider's
        id: Twilio's Gather, the modem's DTMF, Aliyun/Tencent key reports); returns what to say back. On the
        elder's wellbeing call "1" means "I am fine" (the alert resolves) and any other key pages at once; on
        a call to the chain "1" accepts that call's alert."""
        where = _row(row)

        def find() -> tuple[str, int | None, str]:
            with self.sessions() as session:
                found = session.scalars(select(OutboxMessage).where(where).limit(1)).first()
                return (found.address, found.alert_id, found.purpose) if found is not None else ("", None, "")

        phone, alert_id, purpose = await asyncio.to_thread(find)
        if alert_id is None:
            return "未找到对应的告警。"
        if purpose == elder_check.PURPOSE:
            outcome = await self.reply(phone, digits or "（无按键）", via=via)
            self.worker.wake()  # a key other than 1 pages now
            return outcome.answer
        if digits != "1":
            return "未确认接单，稍后将继续通知其他人。"
        return (await self.reply(phone, f"1 A{alert_id}", via=via)).answer

    async def call_status(
        self,
        row: int | ColumnElement[bool],
        status: str,
        *,
        reason: str,
        failed: Callable[[OutboxMessage], bool] | None = None,
    ) -> bool:
        """A provider's status for outbox row `row` (its id, or a condition naming it by the provider's id):
        a failed message, or a call that never reached its callee, moves the row on along its route (a
        wellbeing call that failed pages at once). `failed` judges the row when the provider's status words
        are its own (default: Twilio's and the modem's, `provider_failed`). Returns whether it moved."""
        where = _row(row)

        def record() -> bool:
            with self.sessions.begin() as session:
                found = session.scalars(select(OutboxMessage).where(where).limit(1)).first()
                if found is None:
                    return False
                found.provider_status = status[:32]
                gone = failed(found) if failed is not None else provider_failed(found.route, status)
                # Still pending: the call ended before the worker recorded it as placed (a modem's BUSY
                # can be that quick); the worker applies the status when it records the send.
                if gone and found.status == SENT:
                    now = self.clock.now()
                    fall_back(session, found, now, reason=reason, chain=self.worker.chain(found.route))
                    return True
                return False

        moved = await asyncio.to_thread(record)
        if moved:
            self.worker.wake()
        return moved

    async def _modem_key(self, outbox_id: int, key: str) -> str:
        return await self.keypress(outbox_id, key, via="语音按键(GSM)")

    async def _modem_unreached(self, outbox_id: int, status: str, reason: str) -> None:
        await self.call_status(outbox_id, status, reason=f"GSM 电话{reason}")

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


def _row(row: int | ColumnElement[bool]) -> ColumnElement[bool]:
    """An outbox row named by its id, or already by a condition (a provider's own id)."""
    return OutboxMessage.id == row if isinstance(row, int) else row
