"""System alerts: the hub tells the district duty officer that it is itself broken (it watches nobody then).

A system alert is about no home, so it has no alert row and no escalation: one outbox row per district duty
person by SMS and one to the group robot, delivered by the worker with its usual retry and fallback (SMS and
robots do not depend on MQTT). When the register itself cannot take the rows, the message goes out directly
through the same channel chains instead, so a broken register still reaches a person.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.outbox import enqueue
from hub.alerts.service import AlertService

LOGGER = logging.getLogger(__name__)

PURPOSE = "system"


async def raise_system_alert(alerts: AlertService, key: str, text: str) -> None:
    """Send `text` to the district duty officers (SMS) and the group robot; `key` makes it idempotent."""
    now = alerts.clock.now()
    duty = alerts.config.district_duty
    if not duty:
        LOGGER.error("没有配置区值班人员 (alerts.district_duty)，系统告警只能发到群机器人与日志: %s", text)
    rows = [(f"{key}-{p.phone}", p.name, p.phone, "sms") for p in duty] + [
        (f"{key}-robot", "群机器人", "group", "robot")
    ]

    def write() -> None:
        with alerts.sessions.begin() as session:
            for row_key, name, address, route in rows:
                enqueue(
                    session,
                    alert_id=None,
                    key=row_key,
                    purpose=PURPOSE,
                    role="district",
                    name=name,
                    address=address,
                    route=route,
                    text=text,
                    at=now,
                    template="system",
                )

    try:
        await asyncio.to_thread(write)
    except SQLAlchemyError as exc:
        LOGGER.error("系统告警无法写入登记库 (%s)，直接发送 | register down, sending directly", exc)
        await _send_directly(alerts, rows, text)
        return
    alerts.worker.wake()


async def _send_directly(alerts: AlertService, rows: list[tuple[str, str, str, str]], text: str) -> None:
    """Without the outbox: each recipient along its route's chain until one channel takes it."""
    for row_key, _name, address, route in rows:
        for channel in alerts.worker.chain(route):
            try:
                async with asyncio.timeout(alerts.config.send_timeout_s):
                    note = Notification(0, address, text, row_key, kind="system", params={"text": text})
                    await alerts.channels[channel].notify(note)
                break
            except (NotifyError, TimeoutError) as exc:
                LOGGER.warning("系统告警经 %s 发送失败: %s", channel, exc)
