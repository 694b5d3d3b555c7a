"""Why the hub stopped is said in one plain line; a full disk is named as such."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from hub.failure import is_disk_full, why_stopped
from hub.store.errors import StoreError


def _wrapped(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise StoreError("write failed") from exc
    except StoreError as outer:
        return outer


def test_a_full_disk_is_found_under_what_it_caused_and_named() -> None:
    for cause in (
        OSError(errno.ENOSPC, "No space left on device"),
        sqlite3.OperationalError("database or disk is full"),
    ):
        exc = _wrapped(cause)
        assert is_disk_full(exc)
        line = why_stopped(exc, Path("/var/lib/eldercare"))
        assert "磁盘已满" in line and "/var/lib/eldercare" in line and "\n" not in line


def test_any_other_failure_says_what_broke_and_that_nothing_unacknowledged_is_lost() -> None:
    exc = _wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))
    assert not is_disk_full(exc)
    line = why_stopped(exc, Path("data"))
    assert "StoreError" in line and "重启后补收" in line and "磁盘" not in line


def test_a_failure_inside_a_task_group_is_found_and_named_by_what_failed() -> None:
    # The pipeline flushes its routine batches and its fast lane in one task group: a full disk in either
    # arrives wrapped in an ExceptionGroup, whose own text ("unhandled errors in a TaskGroup") says nothing.
    full = ExceptionGroup("unhandled errors in a TaskGroup", [_wrapped(OSError(errno.ENOSPC, "No space"))])
    assert is_disk_full(full)
    assert "磁盘已满" in why_stopped(full, Path("data"))
    other = ExceptionGroup("unhandled errors in a TaskGroup", [_wrapped(ConnectionRefusedError("refused"))])
    line = why_stopped(other, Path("data"))
    assert "StoreError: write failed" in line and "TaskGroup" not in line
