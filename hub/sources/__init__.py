"""Sources: where raw messages come from (MQTT broker, serial meter bus, HTTP ingest), as async iterators."""

from hub.sources.errors import SourceError
from hub.sources.serial_cjt188 import Cjt188Poller

__all__ = ["Cjt188Poller", "SourceError"]
