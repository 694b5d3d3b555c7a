"""Shared test setup: real services (Mosquitto, InfluxDB, PostgreSQL) are started by the fixture modules."""

pytest_plugins = [
    "tests.services.mosquitto",
    "tests.services.influxdb",
    "tests.services.postgres",
    "tests.services.nats",
]
