"""Where readings live: the `TimeSeriesStore` protocol and its SQLite and InfluxDB implementations."""

from hub.store.base import TimeSeriesStore
from hub.store.errors import StoreError
from hub.store.influx import InfluxStore
from hub.store.sqlite import SqliteStore

__all__ = ["InfluxStore", "SqliteStore", "StoreError", "TimeSeriesStore"]
