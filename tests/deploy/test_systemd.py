"""The systemd unit keeps the hub running through outages of the services it depends on."""

from __future__ import annotations

import configparser
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "eldercare-hub.service"


def test_the_hub_is_restarted_however_often_it_fails() -> None:
    """The hub fails closed (exits) when PostgreSQL is away (tests/faults); systemd must keep starting it
    until PostgreSQL is back instead of giving up after its default five starts in ten seconds."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT, encoding="utf-8")
    assert unit["Service"]["Restart"] == "always"
    assert unit["Unit"].get("StartLimitIntervalSec") == "0"
