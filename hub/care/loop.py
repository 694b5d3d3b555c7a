"""The hub's care loop: plan visit/alert/review tasks and remind about overdue ones, every few minutes."""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.care.plans import PlannerRun, planner_steps
from hub.care.settings import CareConfig
from hub.clock import Clock
from hub.errors import HubError

LOGGER = logging.getLogger(__name__)


def plan_once(sessions: sessionmaker[Session], config: CareConfig, tz: ZoneInfo, clock: Clock) -> PlannerRun:
    """One planner run, a transaction per step (blocking; call in a thread).

    Not one transaction for the run: on SQLite a step's writes hold the register's only write lock until
    it commits, and an SOS's alert must not wait for the next step's scan of every elder.
    """
    now = clock.now()
    made = []
    for step in planner_steps(now, config, tz):
        with sessions.begin() as session:
            made.append(len(step(session)))
    return PlannerRun(*made)


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
