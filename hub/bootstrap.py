"""Opening what the hub and every command need from the config: the data directory, the data key, the register.

It sits just above the register and the config (both below it), so the hub's wiring (`hub.app`), the demo and
the command line (`hub.cli_support`) open the register the same way without importing each other.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from hub.config import Config, ConfigError
from hub.register.crypto import configure_data_key
from hub.register.db import make_engine, migrate, session_factory


def open_register(config: Config) -> sessionmaker[Session]:
    """Make the data directory, connect to the register, bring its schema up to date, return sessions."""
    try:
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"data_dir: cannot create {config.data_dir}: {exc}") from exc
    # The care register encrypts personal data with this key (env HUB_DATA_KEY or <data_dir>/data.key).
    configure_data_key(config.data_dir)
    engine = make_engine(config.register_url)
    migrate(engine)
    return session_factory(engine)
