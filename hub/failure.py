"""Why the hub stopped, in words a duty officer can act on.

The hub fails closed: when what it received cannot be made durable (or a part it needs broke) it stops, and
the broker keeps every message it had not acknowledged. Stopping is loud: `HubStopped` carries one plain
line, and a full disk says so by name instead of a database traceback.
"""

from __future__ import annotations

import errno
from pathlib import Path

from hub.errors import HubError

_DISK_FULL_WORDS = ("database or disk is full", "no space left on device", "disk full")


class HubStopped(HubError):
    """The hub stopped because a part of it failed; the message says which and what to do."""


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything behind it: what caused it (``from``) and what it arose while handling."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is e for e in seen):
            continue
        seen.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):  # parts that run in a task group fail inside one
            todo += list(current.exceptions)
    return seen


def _first_failure(exc: BaseException) -> BaseException:
    """The first failure inside a task group's exception group (the group's own text says nothing)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a full disk: ENOSPC, or SQLite's "database or disk is full"."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(word in str(e).lower() for word in _DISK_FULL_WORDS):
            return True
    return False


def why_stopped(exc: BaseException, data_dir: Path) -> str:
    """One line: what broke, that nothing unacknowledged is lost, and what to do."""
    if is_disk_full(exc):
        return (
            f"数据目录 {data_dir} 所在磁盘已满，平台已停止并不再确认新消息（未确认的消息留在 broker 中，不会丢失）；"
            f"请立即清理磁盘空间，重启后自动补收。disk full at data_dir {data_dir}: the hub stopped acknowledging "
            "and exited; free space and it catches up after restart"
        )
    exc = _first_failure(exc)
    return (
        f"平台因故障停止：{type(exc).__name__}: {exc}（未确认的消息留在 broker 中，重启后补收）。"
        f"hub stopped: {type(exc).__name__}: {exc}"
    )
