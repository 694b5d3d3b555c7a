"""Running the hub's coroutines: on uvloop, which drains MQTT backlogs measurably faster (bench/ingest.py)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a fresh uvloop event loop."""
    return uvloop.run(main)
