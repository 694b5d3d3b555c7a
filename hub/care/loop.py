"""The hub's care loop: plan visit/alert/review tasks and remind about overdue ones, every few minutes."""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.care.plans import PlannerRun, run_planner
from hub.care.settings import CareConfig
from hub.clock import Clock
from hub.errors import HubError

LOGGER = logging.getLogger(__name__)


def plan_once(sessions: sessionmaker[Session], config: CareConfig, tz: ZoneInfo, clock: Clock) -> PlannerRun:
    """One planner run in its own transaction (blocking; call in a thread)."""
    with sessions.begin() as session:
        return run_planner(session, clock.now(), config, tz)


async def run_care_loop(
    sessions: sessionmaker[Session], config: CareConfig, timezone: str, clock: Clock
) -> None:
    """Run the planner every `config.interval_s` until cancelled; a failed run is logged and retried next time
    (the tasks are derived from the register, so nothing is lost by running later)."""
    tz = ZoneInfo(timezone)
    await asyncio.sleep(config.first_run_delay_s)
    while True:
        try:
            result = await asyncio.to_thread(plan_once, sessions, config, tz, clock)
            LOGGER.info("关爱任务: %s", result.summary())
        except (HubError, SQLAlchemyError):
            LOGGER.exception("关爱任务规划失败，将在 %.0f 秒后重试", config.interval_s)
        await asyncio.sleep(config.interval_s)
