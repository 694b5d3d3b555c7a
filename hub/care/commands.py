"""`eldercare-hub` sub-commands contributed by hub.care."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's sub-commands to the CLI (each sets ``func`` to a handler returning an exit code)."""
