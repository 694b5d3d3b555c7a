"""Register tables owned by hub.deploy (imported by hub.register.schema so migrations see them).

`BrokerCredential`: one row per MQTT principal that has been given a password — a device, a bridge that
publishes for several devices (a Zigbee2MQTT or wmbusmeters receiver), never the hub (its password is
HUB_MQTT_PASSWORD). Only the Mosquitto ``$7$`` hash is kept; the password is shown once, when issued.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hub.register.models import Base, UTCDateTime


class BrokerCredential(Base):
    """The password hash of one broker principal (username), and when it was issued."""

    __tablename__ = "broker_credentials"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # device | bridge
    password_hash: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
