"""What every `eldercare-hub` sub-command shares: its config, register sessions, output and exit codes.

The command modules (`hub/{alerts,care,deploy,rules,web}/commands.py`) import this module and `hub/cli.py`
imports them to assemble the parser; nothing here imports `hub.cli`, so the command line is a tree, not a loop.

Output for people goes through `print_table` and `progress`: on a terminal they draw with rich (tables whose
Chinese columns line up, a progress bar on stderr); piped or captured, a table is plain tab-separated lines and
progress is silent, so scripts and CI logs never see control codes. JSON (`print_json`) is the same everywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.bootstrap import open_register
from hub.config import Config, load_config

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

EXIT_OK = 0
"""The command did what it was asked."""
EXIT_FAILED = 1
"""A `HubError` (unknown device, refused input) or a report with problems; the reason is on stderr."""
EXIT_CONFIG = 2
"""The configuration file is wrong (`ConfigError`); the message names the key."""

ProgressFn = Callable[[int, int], None]
"""Called with (done, total) as long work advances."""


def config_of(args: argparse.Namespace) -> Config:
    """The config named by ``--config`` (else ``$HUB_CONFIG``, else the embedded defaults), validated."""
    return load_config(Path(args.config) if args.config else None)


def open_sessions(config: Config) -> sessionmaker[Session]:
    """Sessions on the configured register, its schema brought up to date (`hub.bootstrap.open_register`)."""
    return open_register(config)


def print_json(data: Any, indent: int = 2) -> None:
    """`data` as JSON on stdout, Chinese kept readable."""
    print(json.dumps(data, ensure_ascii=False, indent=indent))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str = "") -> None:
    """Rows under Chinese column headers on a terminal; one tab-separated line per row otherwise.

    With no rows, prints `empty` (when given) instead, in both cases.
    """
    cells = [[str(value) for value in row] for row in rows]
    if not cells:
        if empty:
            print(empty)
        return
    if not sys.stdout.isatty():
        for row in cells:
            print("\t".join(row))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*columns, box=box.SIMPLE_HEAD, highlight=False)
    for row in cells:
        table.add_row(*(Text(value) for value in row))  # Text: brackets in a value are not rich markup
    Console(highlight=False).print(table)


@contextmanager
def progress(label: str) -> Iterator[ProgressFn]:
    """A (done, total) callback for long work: a rich progress bar on stderr when it is a terminal.

    Elsewhere (CI, a pipe, a log file) the callback does nothing: no carriage returns, no escape codes.
    The bar is finished (or left where it stopped, on an error) when the block ends.
    """
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
