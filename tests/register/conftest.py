"""Fixtures of the register tests: an engine and a session on each backend of `register_url`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hub.register.db import make_engine, session_factory

EXAMPLE_SITE = Path(__file__).resolve().parents[2] / "examples" / "site.yaml"

# The device models agreed with the device definitions (hub/devices/definitions); the register only sees
# them through the injected `known_model` callable.
AGREED_MODELS = frozenset(
    {
        ("zigbee2mqtt", "TS0215A_sos"),
        ("zigbee2mqtt", "WXKG11LM"),
        ("zigbee2mqtt", "RTCGQ11LM"),
        ("zigbee2mqtt", "MCCGQ11LM"),
        ("zigbee2mqtt", "SJCGQ11LM"),
        ("tasmota", "pulse_counter"),
        ("wmbusmeters", "iperl"),
        ("esphome", "node"),
        ("native", "health_monitor"),
        ("cjt188", "water_meter"),
    }
)


def known_model(ecosystem: str, model: str) -> bool:
    """Stand-in for the device definitions' lookup."""
    return (ecosystem, model) in AGREED_MODELS


@pytest.fixture
def engine(register_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty register (SQLite and PostgreSQL)."""
    engine = make_engine(register_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on `engine`; the test commits what it wants to keep."""
    with session_factory(engine)() as session:
        yield session
