"""The hub's own health: named checks fed by heartbeats the parts update, for /healthz and /metrics.

A hub that answers "ok" while it hears nothing is the failure nobody notices, so each part that can go
quiet reports a heartbeat here and each check compares it with what is expected:

| check | not ok when |
| --- | --- |
| pipeline | a batch could not be made durable (the hub stops; fail closed) |
| mqtt | the broker session is down (with the reason of the last failed connection) |
| store | the time-series store holds more than `store_pending_max` readings not yet written |
| register | the register does not answer ``SELECT 1`` within `register_timeout_s` |
| rules | the rules sweep has not run for 3 sweep intervals |
| alerts | the alert worker has not looked at the outbox for `alert_worker_late_s` |
| delivery | a notification failed on every real channel (it reached only the log) after the last delivery |
| messages | no device message for longer than the quietest expected interval (once a device is bound) |
| canary | the self-check message has not come back through the pipeline within `canary_timeout_s` |

Each result carries its reason in Chinese and English; `/metrics` exposes ``hub_health_check_ok{check=…}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hub import metrics
from hub.clock import Clock

# Devices that declare no report interval are expected to say something at least this often, hub-wide.
DEFAULT_SILENCE_S = 2 * 3600.0


class HealthConfig(BaseModel):
    """The `[health]` section: thresholds of the checks and the self-check (canary) loop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store_pending_max: Annotated[int, Field(ge=0)] = 10_000
    register_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    alert_worker_late_s: Annotated[float, Field(gt=0)] = 120.0
    # No message at all for this long (or twice the longest declared report interval, if longer).
    silence_s: Annotated[float, Field(gt=0)] = DEFAULT_SILENCE_S
    # The self-check: a message on the hub's own broker every interval, back through the pipeline in time.
    canary_enabled: bool = True
    canary_interval_s: Annotated[float, Field(gt=0)] = 60.0
    canary_timeout_s: Annotated[float, Field(gt=0)] = 180.0
    # How often the hub evaluates its checks and tells the district duty officer about a broken one.
    check_interval_s: Annotated[float, Field(gt=0, le=3600)] = 15.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's verdict, with the reason in Chinese and English when it is not ok."""

    name: str
    ok: bool
    reason_zh: str = ""
    reason_en: str = ""

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of /healthz."""
        return {"check": self.name, "ok": self.ok, "reason_zh": self.reason_zh, "reason_en": self.reason_en}


def ok(name: str) -> CheckResult:
    """A passing check."""
    return CheckResult(name, True)


def failing(name: str, zh: str, en: str) -> CheckResult:
    """A failing check with its reasons."""
    return CheckResult(name, False, zh, en)


Check = Callable[[datetime], CheckResult | Awaitable[CheckResult]]


class Health:
    """Heartbeats from the parts and the checks over them (the web layer and the self-check read it)."""

    def __init__(self, config: HealthConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.started_at = clock.now()
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Register a named check (sync or async, given the time of evaluation)."""
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        """The registered checks, in order."""
        return list(self._checks)

    async def evaluate(self) -> list[CheckResult]:
        """Run every check now and set the gauges; a check that crashes counts as failing, with why."""
        now = self.clock.now()
        results = []
        for name, check in self._checks.items():
            try:
                result = check(now)
                if isinstance(result, Awaitable):
                    result = await result
            except Exception as exc:  # a broken check must say so, never pass
                result = failing(name, f"检查本身出错: {exc}", f"the check itself failed: {exc!r}")
            metrics.HEALTH_CHECK.labels(name).set(1 if result.ok else 0)
            results.append(result)
        return results


# -- checks over heartbeats (pure functions of the heartbeat and the time) ------------------------------


def age_check(
    name: str, last: datetime | None, since: datetime, now: datetime, limit_s: float, zh: str, en: str
) -> CheckResult:
    """Not ok when `last` (or, before the first beat, `since`) is more than `limit_s` ago."""
    ref = last or since
    age = (now - ref).total_seconds()
    if age <= limit_s:
        return ok(name)
    when = "从未" if last is None else f"{age:.0f} 秒前"
    when_en = "never" if last is None else f"{age:.0f} s ago"
    return failing(
        name, f"{zh}（上次: {when}，上限 {limit_s:.0f} 秒）", f"{en} (last: {when_en}, limit {limit_s:.0f} s)"
    )


def silence_limit(config: HealthConfig, report_intervals: Iterable[float]) -> float:
    """How long the hub may hear nothing at all: the configured silence, or twice the slowest device's
    declared report interval when that is longer (a hub of daily water meters is quiet for hours)."""
    slowest = max(report_intervals, default=0.0)
    return max(config.silence_s, 2 * slowest)


async def ping_register(ping: Callable[[], object], timeout_s: float) -> CheckResult:
    """Run the blocking `ping` (a ``SELECT 1``) in a thread; not ok on an error or after `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.to_thread(ping)
    except TimeoutError:
        return failing(
            "register",
            f"登记库 {timeout_s:.0f} 秒内无响应",
            f"the register did not answer within {timeout_s:.0f} s",
        )
    except Exception as exc:  # any driver error: the register is unreachable, say why
        return failing("register", f"登记库无法访问: {exc}", f"the register is unreachable: {exc}")
    return ok("register")
