"""Running the hub's coroutines: on uvloop, which drains MQTT backlogs measurably faster (bench/ingest.py)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T | None:
    """Run `main` on a fresh uvloop event loop; SIGTERM and SIGINT cancel it so it can shut down cleanly
    (flush what is buffered, disconnect). Returns None when it was stopped that way."""

    async def guarded() -> T | None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(main)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return None

    return uvloop.run(guarded())


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has finished (its cleanup done); its cancellation is not re-raised,
    its own error is.

    A cancellation of the caller that arrives while it waits is not swallowed: the wait goes on until the
    task has finished, then the caller's cancellation is raised. Suppressing every CancelledError here (as
    this once did) also swallowed the caller's own: a stop (SIGTERM) that came while an instance was handing
    over partitions was lost, and the instance ran on with its partitions until it was killed.
    """
    task.cancel()
    interrupted = False
    while not task.done():
        try:
            # Unlike `await task`, this leaves the task alone when the caller is cancelled.
            await asyncio.wait({task})
        except asyncio.CancelledError:
            interrupted = True
    if task.cancelled():
        if interrupted:
            raise asyncio.CancelledError
        return
    error = task.exception()
    if interrupted:
        raise asyncio.CancelledError from error
    if error is not None:
        raise error
