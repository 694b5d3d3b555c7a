"""Typed configuration: one TOML file (``--config`` or ``HUB_CONFIG``), secrets from the environment.

With no file at all the hub runs on embedded defaults: an in-process MQTT broker, SQLite for the register
and the time series in ``data_dir``. Every error names the offending key, e.g. ``store.url: …``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hub.alerts.settings import AlertsConfig
from hub.care.settings import CareConfig
from hub.cluster import default_instance
from hub.deploy.settings import BrokerSettings
from hub.errors import HubError
from hub.health import HealthConfig
from hub.rules.settings import RulesConfig
from hub.web.settings import WebConfig

# Environment variables that carry secrets; they never appear in the TOML file or in git.
ENV_MQTT_PASSWORD = "HUB_MQTT_PASSWORD"
ENV_INFLUX_PASSWORD = "HUB_INFLUX_PASSWORD"
ENV_REGISTER_URL = "HUB_REGISTER_URL"


class ConfigError(HubError):
    """The configuration is invalid; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MqttConfig(_Section):
    """The MQTT source. `urls` (or `url`, a list of one) empty → start the embedded broker (demo only)."""

    # The brokers of one cluster, tried in this order on connect and, from the one after the lost one, on
    # every reconnect. `url` is the one-broker spelling of the same; give one of the two.
    urls: list[str] = Field(default_factory=list)
    url: str = ""
    # "5", or "3.1.1" for a broker that speaks nothing newer (NATS). With 3.1.1 the session is the
    # clean-session-off kind and there is no receive maximum: the broker's own limit bounds in-flight
    # messages (NATS: mqtt.max_ack_pending).
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str = "eldercare-hub"
    username: str = ""
    # Not in the file: read from HUB_MQTT_PASSWORD.
    password: str = Field(default="", exclude=True, repr=False)
    session_expiry_s: Annotated[int, Field(ge=60)] = 7 * 24 * 3600
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    reconnect_max_s: Annotated[float, Field(gt=0)] = 30.0
    # Ecosystem subscriptions; empty → every ecosystem the device registry knows.
    subscriptions: list[str] = Field(default_factory=list)
    embedded_port: Annotated[int, Field(ge=0, le=65535)] = 1883
    # Unacknowledged messages the broker may send ahead (MQTT 5 receive maximum).
    receive_maximum: Annotated[int, Field(ge=10, le=65535)] = 10_000
    # A second broker session (`<client id>-urgent`) for the devices that can raise an immediate alert,
    # so that an SOS does not queue behind the routine backlog (hub/ingest/urgent.py). Off: one session.
    urgent_session: bool = True

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        return _broker_url(v) if v else v

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, v: list[str]) -> list[str]:
        for i, url in enumerate(v):
            try:
                _broker_url(url)
            except ValueError as exc:
                raise ValueError(f"entry {i + 1}: {exc}") from None
            if url in v[:i]:
                raise ValueError(f"entry {i + 1}: {url!r} is listed twice")
        return v

    @model_validator(mode="after")
    def _one_spelling(self) -> MqttConfig:
        if self.url and self.urls:
            raise ValueError("give either url (one broker) or urls (a list), not both")
        return self

    @property
    def broker_urls(self) -> list[str]:
        """The brokers to try, in order; empty → the embedded broker."""
        return list(self.urls) or ([self.url] if self.url else [])


def _broker_url(v: str) -> str:
    if urlsplit(v).scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not urlsplit(v).hostname:
        raise ValueError(f"must look like mqtt://host:1883 or mqtts://host:8883, got {v!r}")
    return v


class StoreConfig(_Section):
    """The time-series store."""

    kind: Literal["sqlite", "influxdb"] = "sqlite"
    url: str = ""  # InfluxDB base URL, e.g. http://127.0.0.1:8086
    database: str = "eldercare"
    username: str = ""
    password: str = Field(default="", exclude=True, repr=False)  # from HUB_INFLUX_PASSWORD
    retention_policy: str = ""
    batch_max: Annotated[int, Field(ge=1, le=100_000)] = 5000


class RegisterConfig(_Section):
    """The register database (SQLAlchemy URL); empty → SQLite file in data_dir."""

    url: str = ""


class HttpConfig(_Section):
    """The HTTP server (API, ingest, health, metrics, demo page)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080


class PipelineConfig(_Section):
    """Batching of the ingest pipeline: a batch is made durable, then its messages are acknowledged."""

    batch_max: Annotated[int, Field(ge=1, le=100_000)] = 5000
    flush_interval_s: Annotated[float, Field(gt=0, le=10)] = 0.02
    max_pending: Annotated[int, Field(ge=100)] = 100_000
    # A device time later than receipt by more than this, or older by more than `device_clock_max_lag_s`
    # (outside a time the broker held messages for the hub), is implausible: receipt time is used instead.
    device_clock_future_s: Annotated[float, Field(ge=0, le=3600)] = 120.0
    device_clock_max_lag_s: Annotated[float, Field(ge=60, le=7 * 86400)] = 900.0


class SerialMeterConfig(_Section):
    """One serial bus with CJ/T 188 meters to poll."""

    url: str  # pyserial URL: /dev/ttyUSB0, rfc2217://…, loop://
    addresses: list[str]
    interval_s: Annotated[float, Field(gt=0)] = 300.0
    baudrate: int = 2400


class ClusterConfig(_Section):
    """Hot standby (PostgreSQL register only): several hub processes, one active, by a lease in the register.

    The active renews its lease every `renew_s`; one that cannot renew stops its active work before the
    `lease_s` are up, and a standby takes the lease once they are.
    """

    instance: str = ""  # this process's name in the cluster; "" → host name and process id
    lease_s: Annotated[float, Field(ge=1, le=60)] = 3.0
    renew_s: Annotated[float, Field(gt=0, le=20)] = 1.0
    # Homes fall into this many fixed partitions (`hub.cluster.partition_of`), each with its own lease, MQTT
    # session and owner; 1: one instance is active for every home (hot standby only).
    partitions: Annotated[int, Field(ge=1, le=256)] = 1
    # Partitions this instance takes first and keeps (deterministic placement); others by fair share.
    prefer: list[Annotated[int, Field(ge=0)]] = []

    @property
    def instance_name(self) -> str:
        """`instance`, or host name and process id when it is not set."""
        return self.instance or default_instance()


class WatchConfig(_Section):
    """The TCP source for 4G SOS pendants and watches (the "watch" protocol; docs/watch.md)."""

    enabled: bool = False
    # Devices connect over the cellular network, so the listener faces outside by default.
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 5093
    # How often the devices send their LK keep-alive (set on the device); a connection silent for
    # `idle_keepalives` of these is closed as dead (half-open: the device lost its link).
    keepalive_s: Annotated[float, Field(gt=0, le=3600)] = 300.0
    idle_keepalives: Annotated[float, Field(ge=1.5, le=20)] = 3.0
    # A frame longer than this is refused (quarantined): text frames are well under 1 KiB.
    max_frame_bytes: Annotated[int, Field(ge=256, le=1_048_576)] = 16 * 1024
    # Firmware that waits for an answer to each location report (UD, UD2, …) as to an alarm.
    reply_to_locations: bool = False

    @property
    def idle_timeout_s(self) -> float:
        """How long a connection may stay silent before it is closed."""
        return self.keepalive_s * self.idle_keepalives


class Config(_Section):
    """The whole configuration."""

    data_dir: Path = Path("data")
    timezone: str = "Asia/Shanghai"
    mqtt: MqttConfig = MqttConfig()
    store: StoreConfig = StoreConfig()
    # "register" would shadow ABCMeta.register on the model class, hence the alias.
    register_db: RegisterConfig = Field(default=RegisterConfig(), alias="register")
    http: HttpConfig = HttpConfig()
    pipeline: PipelineConfig = PipelineConfig()
    serial: list[SerialMeterConfig] = Field(default_factory=list)
    watch: WatchConfig = WatchConfig()
    rules: RulesConfig = RulesConfig()
    # The production broker as devices see it (broker-config, device-credentials).
    broker: BrokerSettings = BrokerSettings()
    alerts: AlertsConfig = AlertsConfig()
    care: CareConfig = CareConfig()
    web: WebConfig = WebConfig()
    health: HealthConfig = HealthConfig()
    cluster: ClusterConfig = ClusterConfig()

    @property
    def register_url(self) -> str:
        """The register's SQLAlchemy URL (default: SQLite in data_dir)."""
        return self.register_db.url or f"sqlite:///{(self.data_dir / 'register.sqlite').resolve()}"

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


def _format_error(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling)"
        lines.append(f"{origin}: {key}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], origin: str = "<config>", env: dict[str, str] | None = None) -> Config:
    """Validate a config mapping and merge secrets from `env`; raise ConfigError naming the key."""
    env = dict(os.environ if env is None else env)
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for section, key in (("mqtt", "password"), ("store", "password")):
        if key in data.get(section, {}):
            raise ConfigError(
                f"{origin}: {section}.{key}: secrets are not read from the file; "
                f"set {ENV_MQTT_PASSWORD if section == 'mqtt' else ENV_INFLUX_PASSWORD} instead"
            )
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin)) from exc
    updates: dict[str, Any] = {"alerts": cfg.alerts.with_env(env)}
    if env.get(ENV_MQTT_PASSWORD):
        updates["mqtt"] = cfg.mqtt.model_copy(update={"password": env[ENV_MQTT_PASSWORD]})
    if env.get(ENV_INFLUX_PASSWORD):
        updates["store"] = cfg.store.model_copy(update={"password": env[ENV_INFLUX_PASSWORD]})
    if env.get(ENV_REGISTER_URL):
        updates["register_db"] = RegisterConfig(url=env[ENV_REGISTER_URL])
    if updates:
        cfg = cfg.model_copy(update=updates)
    if cfg.web.demo_user and cfg.http.host not in ("127.0.0.1", "::1"):
        raise ConfigError(
            f"{origin}: web.demo_user: only allowed when http.host is 127.0.0.1 (the local demo)"
        )
    if cfg.cluster.renew_s > cfg.cluster.lease_s / 3:
        raise ConfigError(
            f"{origin}: cluster.renew_s: must be at most a third of cluster.lease_s ({cfg.cluster.lease_s:g} s), "
            f"so that a lease is renewed twice before the active must give up; got {cfg.cluster.renew_s:g}"
        )
    outside = [p for p in cfg.cluster.prefer if p >= cfg.cluster.partitions]
    if outside:
        raise ConfigError(
            f"{origin}: cluster.prefer: partitions are numbered 0…{cfg.cluster.partitions - 1} "
            f"(cluster.partitions = {cfg.cluster.partitions}); got {outside}"
        )
    if cfg.store.kind == "influxdb" and not cfg.store.url:
        raise ConfigError(f'{origin}: store.url: required when store.kind = "influxdb"')
    return cfg


def load_config(path: Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Load `path`, or $HUB_CONFIG, or the embedded defaults when neither is given."""
    env_map = dict(os.environ if env is None else env)
    if path is None and env_map.get("HUB_CONFIG"):
        path = Path(env_map["HUB_CONFIG"])
    if path is None:
        return parse_config({}, "<defaults>", env_map)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:  # a directory, no permission, not UTF-8 text
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(raw, str(path), env_map)
