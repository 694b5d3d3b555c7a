"""The ``[broker]`` config section: how the production Mosquitto is reached and where its TLS files are.

`eldercare-hub broker-config` writes the listeners from it, and `eldercare-hub device-credentials` prints
the host, port and TLS choice the installer types into a device. Certificate paths are paths *on the
broker's machine* (or in its container), not on the machine that runs the command.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BrokerSettings(BaseModel):
    """The production broker as devices see it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The name devices connect to (DNS name or address); printed for installers. Unset (""): the host of
    # alerts.public_url is used, and without that the installer sheet says it is unset (never a made-up name).
    host: str = ""
    # Plain MQTT listener (0 = none). Cheap devices without TLS (standard Tasmota builds) need it; keep it
    # on a private network or VPN, or bind it to 127.0.0.1 so only the hub on the same box uses it.
    port: Annotated[int, Field(ge=0, le=65535)] = 1883
    bind: str = ""  # address of the plain listener; "" = every interface
    tls_port: Annotated[int, Field(ge=0, le=65535)] = 8883  # 0 = no TLS listener
    tls_bind: str = ""
    cafile: str = "/etc/mosquitto/certs/ca.crt"
    certfile: str = "/etc/mosquitto/certs/server.crt"
    keyfile: str = "/etc/mosquitto/certs/server.key"
    # Whether installers are told to use TLS (false only for devices that cannot, on a closed network).
    devices_use_tls: bool = True
    persistence_dir: str = "/var/lib/mosquitto/"
    # How often (s) Mosquitto writes its in-memory store (queued QoS 1 messages, sessions) to disk. It is not a
    # write-ahead log: a broker crash loses what arrived since the last save, so keep this short.
    autosave_interval_s: Annotated[int, Field(ge=1, le=3600)] = 30

    @model_validator(mode="after")
    def _check(self) -> BrokerSettings:
        if self.port == 0 and self.tls_port == 0:
            raise ValueError("port and tls_port are both 0: the broker would have no listener")
        if self.tls_port and not (self.certfile and self.keyfile):
            raise ValueError("certfile and keyfile are required for the TLS listener (tls_port)")
        if self.devices_use_tls and not self.tls_port:
            raise ValueError("devices_use_tls needs a TLS listener (tls_port)")
        if not self.devices_use_tls and not self.port:
            raise ValueError("devices_use_tls = false needs a plain listener (port)")
        return self

    @property
    def device_port(self) -> int:
        """The port installers type into devices."""
        return self.tls_port if self.devices_use_tls else self.port
