"""A small progress bar on stderr for long imports: drawn only on a terminal, silent otherwise."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """Call with (done, total); redraws at most once per percent, ends with a newline on `close`."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._label = label
        self._width = width
        self._last = -1
        self._drawn = False
        self.enabled = self._stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        """Show `done` of `total`."""
        if not self.enabled or total <= 0:
            return
        percent = done * 100 // total
        if percent == self._last:
            return
        self._last = percent
        filled = self._width * done // total
        bar = "█" * filled + "·" * (self._width - filled)
        self._stream.write(f"\r{self._label} [{bar}] {done}/{total} {percent}%")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the line."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
