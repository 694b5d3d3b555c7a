"""Shared test setup: real services (Mosquitto, InfluxDB, PostgreSQL) are started by the fixture modules."""

import pytest

from hub.native import NativeBuildError, check

pytest_plugins = [
    "tests.services.mosquitto",
    "tests.services.influxdb",
    "tests.services.postgres",
    "tests.services.nats",
]


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to test compiled modules older than their sources (`make native`): they would hide every edit."""
    try:
        check()
    except NativeBuildError as exc:
        pytest.exit(str(exc), returncode=4)
