"""The hub's self-check, like a telecare centre's test call, and the watch that tells a person.

`Canary` publishes a sequence number on the hub's own broker every `canary_interval_s`. The message comes
back through the source, is decoded (`hub.devices.canary`), stored with its batch and committed; the canary
counts as back only when that batch is durable. Its reading is taken out before the rules engine, so it is
never an elder's sign of life and never touches a real home's rules.

`watch` evaluates every health check every `check_interval_s`. A check that fails twice in a row (so a
hub that is still connecting at start-up pages nobody) raises a system alert to the district duty officer
through SMS and the group robot (`hub.alerts.system`), which do not depend on MQTT; its recovery is told too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from hub.alerts.service import AlertService
from hub.alerts.system import raise_system_alert
from hub.clock import Clock
from hub.devices.canary import CANARY_HOME
from hub.health import CheckResult, Health, HealthConfig, age_check
from hub.ingest.pipeline import RuleSink
from hub.models import AlertCandidate, Reading
from hub.sources.delivery import Delivery

LOGGER = logging.getLogger(__name__)


class _WithoutCanary:
    """A rule sink that takes the canary's reading out before the real rules see it."""

    def __init__(self, canary: Canary, inner: RuleSink) -> None:
        self._canary = canary
        self._inner = inner

    def observe(self, reading: Reading) -> list[AlertCandidate]:
        """The inner sink's candidates; the canary's reading is only noted."""
        if reading.home == CANARY_HOME:
            self._canary.decoded = True
            return []
        return self._inner.observe(reading)


class Canary:
    """The self-check message: publish, and notice when it is durable again."""

    def __init__(self, topic: str, config: HealthConfig, clock: Clock) -> None:
        self.topic = topic
        self._config = config
        self._clock = clock
        self._since = clock.now()
        self._seq = 0
        self.decoded = False  # the current canary passed decode and reached the rule sink
        self.sent_at: datetime | None = None
        self.back_at: datetime | None = None  # the last completed round trip

    def rules(self, inner: RuleSink) -> RuleSink:
        """Wrap the pipeline's rule sink so the canary never reaches the rules."""
        return _WithoutCanary(self, inner)

    def on_batch_durable(self, deliveries: list[Delivery]) -> None:
        """Pipeline hook: a durable batch that holds the canary completes the round trip."""
        if self.decoded and any(d.message.topic == self.topic for d in deliveries):
            self.decoded = False
            self.back_at = self._clock.now()

    async def run(self, publish: Callable[[str, bytes], bool]) -> None:
        """Publish a canary every interval until cancelled (`publish` says False while MQTT is down)."""
        interval = self._config.canary_interval_s
        while True:
            self._seq += 1
            if publish(self.topic, str(self._seq).encode()):
                self.sent_at = self._clock.now()
                await asyncio.sleep(interval)
            else:  # not connected: try again soon, so the first round trip follows the connection at once
                await asyncio.sleep(min(1.0, interval))

    def check(self, now: datetime) -> CheckResult:
        """Not ok when no canary has come back within `canary_timeout_s`."""
        return age_check(
            "canary",
            self.back_at,
            self._since,
            now,
            self._config.canary_timeout_s,
            "自检消息未能经 MQTT→解码→存储 完整往返",
            "the self-check message did not come back through MQTT → decode → store",
        )


async def watch(health: Health, alerts: AlertService) -> None:
    """Evaluate every check periodically; tell the district duty officer about failures and recoveries."""
    failing_since: dict[str, int] = {}  # check → consecutive failing evaluations
    told: set[str] = set()
    started = int(health.started_at.timestamp())
    outage = 0
    while True:
        results = await health.evaluate()
        for result in results:
            if result.ok:
                failing_since.pop(result.name, None)
                if result.name in told:
                    told.discard(result.name)
                    outage += 1
                    text = f"【监护平台恢复】自检项 {result.name} 已恢复正常。"
                    LOGGER.warning("health check %s recovered", result.name)
                    await raise_system_alert(alerts, f"system-{started}-{outage}-{result.name}-ok", text)
                continue
            failing_since[result.name] = failing_since.get(result.name, 0) + 1
            if failing_since[result.name] >= 2 and result.name not in told:
                told.add(result.name)
                outage += 1
                text = (
                    f"【监护平台故障】{result.reason_zh}。平台可能无法监护老人，请立即处理并电话确认。"
                    f" ({result.reason_en})"
                )
                LOGGER.error("health check %s failing: %s", result.name, result.reason_en)
                await raise_system_alert(alerts, f"system-{started}-{outage}-{result.name}", text)
        await asyncio.sleep(health.config.check_interval_s)
