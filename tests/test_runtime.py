"""`cancel_and_wait`: the task is cancelled and its cleanup awaited; the caller's own stop is never lost."""

from __future__ import annotations

import asyncio

import pytest

from hub.runtime import cancel_and_wait


def _slow_to_stop(cleaned: list[str], error: Exception | None = None) -> asyncio.Task[None]:
    async def work() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.2)  # e.g. the last batch being made durable
            cleaned.append("done")
            if error is not None:
                raise error

    return asyncio.create_task(work())


async def test_the_task_is_cancelled_and_its_cleanup_awaited() -> None:
    cleaned: list[str] = []
    task = _slow_to_stop(cleaned)
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled() and cleaned == ["done"]


async def test_a_stop_of_the_caller_while_it_waits_is_raised_once_the_task_has_finished() -> None:
    cleaned: list[str] = []
    task = _slow_to_stop(cleaned)
    await asyncio.sleep(0)
    caller = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0.05)
    caller.cancel()  # e.g. SIGTERM while the caller was ending the task
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert cleaned == ["done"]  # the task's cleanup was not cut short by it


async def test_an_error_of_the_task_while_stopping_is_raised() -> None:
    task = _slow_to_stop([], RuntimeError("flush failed"))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="flush failed"):
        await cancel_and_wait(task)
