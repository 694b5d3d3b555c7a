"""Broker credentials: issue a principal's password (stored only as its Mosquitto hash) and describe what
the installer types into the device.

Issuing is refused when the principal already has a password unless ``rotate`` is asked for: the principal
may be a bridge that other devices already use, and a new password would cut them off until the bridge is
reconfigured. The caller commits the session.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.clock import Clock
from hub.deploy.errors import DeployError
from hub.deploy.passwords import hash_password, new_password
from hub.deploy.principals import Principal, principal_of_device
from hub.deploy.settings import BrokerSettings
from hub.deploy.tables import BrokerCredential
from hub.devices.ecosystems import (
    ESPHOME,
    NATIVE,
    OPENMQTTGATEWAY,
    RTL433,
    SHELLY,
    TASMOTA,
    WMBUSMETERS,
    ZIGBEE2MQTT,
)

# Stands for the broker's address in the device hints while `broker.host` is unset.
UNSET_HOST = "<平台地址>"


@dataclass(frozen=True, slots=True)
class InstallerSheet:
    """Everything the installer types into the device (or its bridge) to connect."""

    device: str
    principal: Principal
    host: str
    port: int
    tls: bool
    password: str

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view (``device-credentials --json``)."""
        return {
            "device": self.device,
            "ecosystem": self.principal.ecosystem,
            "kind": self.principal.kind,
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "username": self.principal.username,
            "password": self.password,
            "topic": self.principal.setting,
            "publishes": list(self.principal.publish),
        }

    @property
    def shown_host(self) -> str:
        """The host as the installer types it; a placeholder that cannot be mistaken for one when unset."""
        return self.host or UNSET_HOST

    def hint(self) -> str:
        """Where these values go, in the device's own terms (Chinese, for the installer)."""
        p, scheme = self.principal, "mqtts" if self.tls else "mqtt"
        if p.ecosystem == TASMOTA:
            tls = "; SetOption103 1" if self.tls else ""
            return (
                f"Tasmota 控制台输入: Backlog MqttHost {self.shown_host}; MqttPort {self.port}; MqttUser {p.username}; "
                f"MqttPassword {self.password}; Topic {p.setting}; FullTopic %prefix%/%topic%/{tls}"
                + ("（需要带 TLS 的固件 tasmota-tls）" if self.tls else "")
            )
        if p.ecosystem == ESPHOME:
            return (
                f"ESPHome YAML 的 mqtt: 段: broker {self.shown_host}, port {self.port}, username {p.username}, "
                f"password（写入 secrets.yaml）, topic_prefix {p.setting}, discovery false"
            )
        if p.ecosystem == ZIGBEE2MQTT:
            return (
                f"Zigbee2MQTT configuration.yaml 的 mqtt: 段: server {scheme}://{self.shown_host}:{self.port}, "
                f"user {p.username}, password, base_topic zigbee2mqtt；设备的 friendly_name 必须与登记的外部编号一致"
            )
        if p.ecosystem == WMBUSMETERS:
            return (
                f"wmbusmeters shell 钩子: mosquitto_pub -q 1 -h {self.shown_host} -p {self.port} -u {p.username} "
                f'-P <密码> -t wmbusmeters/$METER_ID -m "$METER_JSON"'
            )
        if p.ecosystem == OPENMQTTGATEWAY:
            return (
                f"OpenMQTTGateway 网页配置: MQTT server {self.shown_host}, port {self.port}, user {p.username}, "
                f"password, Gateway Name {p.setting}, base topic home/；登记的外部编号是血压计/体重秤的 MAC"
            )
        if p.ecosystem == RTL433:
            return (
                f"rtl_433 -F 'mqtt://{self.shown_host}:{self.port},user={p.username},pass=<密码>,"
                f"devices={p.setting}'；登记的外部编号是 Generic-Remote/<id>（见 docs/topics.md）"
            )
        if p.ecosystem == SHELLY:
            return f"Shelly 网页 Settings → MQTT: server {self.shown_host}:{self.port}, client id/prefix {p.setting}, 开启 RPC 通知"
        if p.ecosystem == NATIVE:
            return f"按 docs/topics.md 自研协议发布到 eldercare/{p.setting}/<信号>, QoS 1"
        return ""

    def render(self) -> str:
        """The text printed by ``eldercare-hub device-credentials``."""
        p = self.principal
        who = "网关（桥接）" if p.kind == "bridge" else "设备"
        lines = [
            f"{who} {p.username} 的 MQTT 接入参数（{p.ecosystem}，设备 {', '.join(p.devices)}）— 密码只显示这一次",
            f"  服务器 host:      {self.host or '未设置（请在配置文件 [broker] host 填写设备能访问的平台域名或 IP）'}",
            f"  端口 port:        {self.port}",
            f"  TLS:              {'是（用平台 CA 证书校验服务器）' if self.tls else '否'}",
            f"  用户名 username:  {p.username}",
            f"  密码 password:    {self.password}",
            f"  主题 topic:       {p.setting}",
            f"  允许发布:         {' '.join(p.publish)}",
            f"  {self.hint()}",
            "生效: 运行 eldercare-hub broker-config 并让 Mosquitto 重新加载（kill -HUP）。",
        ]
        return "\n".join(lines)


def issue_credentials(
    session: Session, device_code: str, settings: BrokerSettings, clock: Clock, *, rotate: bool = False
) -> InstallerSheet:
    """Give the principal that publishes for `device_code` a new password; only its hash is stored."""
    principal = principal_of_device(session, device_code)
    try:
        row = session.get(BrokerCredential, principal.username)
        if row is not None and not rotate:
            others = [d for d in principal.devices if d != device_code]
            shared = f"（它也为 {', '.join(others)} 发布）" if others else ""
            raise DeployError(
                f"{principal.username} already has a broker password{shared}; the device or bridge already "
                "knows it. Use --rotate to replace it (the old one stops working at the next broker-config)."
            )
        password = new_password()
        if row is None:
            row = BrokerCredential(username=principal.username)
            session.add(row)
        row.kind = principal.kind
        row.password_hash = hash_password(password)
        row.issued_at = clock.now()
        session.flush()
    except SQLAlchemyError as exc:
        raise DeployError(f"cannot store the broker password of {principal.username}: {exc}") from exc
    return InstallerSheet(
        device_code, principal, settings.host, settings.device_port, settings.devices_use_tls, password
    )


def stored_hashes(session: Session) -> dict[str, str]:
    """username → ``$7$`` hash of every issued credential."""
    try:
        return {row.username: row.password_hash for row in session.scalars(select(BrokerCredential))}
    except SQLAlchemyError as exc:
        raise DeployError(f"cannot read the broker credentials from the register: {exc}") from exc
