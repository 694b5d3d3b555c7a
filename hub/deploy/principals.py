"""Who connects to the broker and which topics each may publish, derived from the register.

The unit of access is the *principal*, the thing that really holds an MQTT connection:

- **Zigbee2MQTT** devices never connect; their bridge does. One bridge per home by default (a coordinator
  stick in the home's gateway), user ``z2m-<home code>``. Devices whose setting ``bridge`` names a site
  (``{"bridge": "building-7"}``) share the site bridge ``z2m-building-7`` — a coordinator in a care
  building that reaches several flats. The bridge may publish ``zigbee2mqtt/<friendly name>`` and
  ``…/availability`` of exactly its devices; not ``zigbee2mqtt/bridge/…`` (every bridge shares those
  topics and the hub ignores them, so the broker drops them) and not another home's names.
- **wmbusmeters** is a radio receiver too: user ``wmbus-<home code>`` (or ``wmbus-<bridge>``), publishing
  ``wmbusmeters/<meter id>`` of its meters only.
- **OpenMQTTGateway** (BLE health monitors) and **rtl_433** (433 MHz sensors) are radio receivers as well:
  user ``omg-<home>`` / ``rtl433-<home>`` (or ``-<bridge>``). The receiver's name in its topics is its
  username (OpenMQTTGateway's gateway name; rtl_433's ``devices=rtl_433/<user>/devices[/type][/model]…``), so
  it may publish ``home/<user>/BTtoMQTT/<MAC>`` of its monitors, ``rtl_433/<user>/devices/<model>/<id>/+`` of
  its sensors, and nothing of another receiver.
- **Tasmota**: one principal per device topic, user = device code, ``tele/<topic>/+`` and ``stat/<topic>/+``
  (one level: a topic ``a`` cannot reach ``tele/a/b/SENSOR``, which belongs to a device whose topic is ``a/b``).
- **ESPHome**: one principal per node, user = device code, ``<prefix>/status``, ``<prefix>/sensor/+/state``,
  ``<prefix>/binary_sensor/+/state``.
- **Shelly Gen2**: user = device code, ``<id>/events/rpc``.
- **native**: user = device code, ``eldercare/<id>/#`` (a native id has no '/', so this is its namespace).
- **CJ/T 188** meters hang on the hub's serial port and have no broker principal.

Devices get no read access at all: nothing they need is published to them, and a device that subscribes to
``#`` gets nothing. The hub gets read access to exactly its subscription filters, and read and write access
to its own self-check topic ``eldercare-hub/canary/<client id>`` only (hub/selfcheck.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.deploy.errors import DeployError
from hub.devices.ecosystems import (
    CJT188,
    ESPHOME,
    NATIVE,
    OPENMQTTGATEWAY,
    ROOTS,
    RTL433,
    SHELLY,
    TASMOTA,
    WMBUSMETERS,
    ZIGBEE2MQTT,
)
from hub.register.models import Device, Home

PrincipalKind = Literal["device", "bridge", "hub"]

# Ecosystems whose devices publish through a shared receiver, and that receiver's username prefix.
BRIDGED = {ZIGBEE2MQTT: "z2m", WMBUSMETERS: "wmbus", OPENMQTTGATEWAY: "omg", RTL433: "rtl433"}
_MAC = re.compile(r"[0-9A-F]{2}(:[0-9A-F]{2}){5}")
# The password file is "<user>:<hash>" and the ACL file is split on spaces: usernames stay plain.
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True, slots=True)
class Principal:
    """One MQTT user: who it is, what it publishes for, and its ACL."""

    username: str
    kind: PrincipalKind
    ecosystem: str  # "" for the hub
    home: str  # home code; "" for a site bridge or the hub
    devices: tuple[str, ...]  # device codes it publishes for
    setting: str  # what the installer sets as the device's topic (Tasmota Topic, ESPHome topic_prefix, …)
    publish: tuple[str, ...]  # ACL write patterns
    read: tuple[str, ...] = ()  # ACL read patterns


def check_username(username: str) -> str:
    """`username` if it can stand in Mosquitto's password and ACL files; `DeployError` otherwise."""
    if not _USERNAME.fullmatch(username):
        raise DeployError(
            f"{username!r} cannot be a broker username: use letters, digits and _ . - only "
            "(no ':' or spaces), at most 128 characters"
        )
    return username


def _topic_part(device: Device) -> str:
    """The external id, if it can be written into an ACL topic line without meaning more than itself."""
    ext = device.external_id
    bad = [c for c in ext if c in "+#\0" or ord(c) < 0x20]
    if not ext or bad or ext != ext.strip():
        raise DeployError(
            f"device {device.code}: external id {ext!r} cannot be used in a broker ACL "
            "(empty, wildcard '+'/'#', control characters or leading/trailing spaces)"
        )
    if device.ecosystem in (ESPHOME, SHELLY, NATIVE, TASMOTA) and ext.startswith("/"):
        raise DeployError(f"device {device.code}: external id {ext!r} must not start with '/'")
    if device.ecosystem in (ESPHOME, SHELLY) and ext.split("/")[0] in ROOTS:
        # The fixed roots win over device-chosen prefixes when routing (docs/topics.md): such a node's
        # messages would be read as another ecosystem's.
        raise DeployError(
            f"device {device.code}: {device.ecosystem} prefix {ext!r} starts with the reserved root "
            f"{ext.split('/')[0]!r}; rename the node"
        )
    if device.ecosystem == NATIVE and "/" in ext:
        raise DeployError(f"device {device.code}: a native device id must not contain '/', got {ext!r}")
    return ext


def _single(device: Device, home: str) -> Principal:
    ext = _topic_part(device)
    topics: tuple[str, ...]
    if device.ecosystem == TASMOTA:
        topics = (f"tele/{ext}/+", f"stat/{ext}/+")
    elif device.ecosystem == ESPHOME:
        topics = (f"{ext}/status", f"{ext}/sensor/+/state", f"{ext}/binary_sensor/+/state")
    elif device.ecosystem == SHELLY:
        topics = (f"{ext}/events/rpc",)
    elif device.ecosystem == NATIVE:
        topics = (f"eldercare/{ext}/#",)
    else:
        raise DeployError(
            f"device {device.code}: no broker access is defined for ecosystem {device.ecosystem!r}"
        )
    return Principal(
        check_username(device.code), "device", device.ecosystem, home, (device.code,), ext, topics
    )


def _bridge_name(device: Device, home: str) -> tuple[str, str]:
    """(bridge name, home or "" for a site bridge) of a bridged device."""
    site = (device.settings or {}).get("bridge")
    if site is None:
        return home, home
    if not isinstance(site, str) or not site:
        raise DeployError(f"device {device.code}: setting 'bridge' must be a non-empty text, got {site!r}")
    return site, ""


def _bridge_setting(ecosystem: str, username: str) -> str:
    """What the installer sets on the receiver so its topics are the ones its ACL allows."""
    if ecosystem == ZIGBEE2MQTT:
        return "zigbee2mqtt"
    if ecosystem == OPENMQTTGATEWAY:
        return username  # the gateway name: topics home/<name>/BTtoMQTT/<MAC>
    if ecosystem == RTL433:
        return f"rtl_433/{username}/devices[/type][/model][/subtype][/channel][/id]"
    return "wmbusmeters"


def _bridge_topics(ecosystem: str, username: str, devices: Sequence[Device]) -> tuple[str, ...]:
    topics: list[str] = []
    for device in devices:
        ext = _topic_part(device)
        if ecosystem == ZIGBEE2MQTT:
            if ext == "bridge" or ext.startswith("bridge/"):
                raise DeployError(f"device {device.code}: 'bridge' is Zigbee2MQTT's own topic, not a device")
            topics += [f"zigbee2mqtt/{ext}", f"zigbee2mqtt/{ext}/availability"]
        elif ecosystem == OPENMQTTGATEWAY:
            if not _MAC.fullmatch(ext):
                raise DeployError(
                    f"device {device.code}: a BLE monitor's external id is its MAC as AA:BB:CC:DD:EE:FF, got {ext!r}"
                )
            topics.append(f"home/{username}/BTtoMQTT/{ext.replace(':', '')}")
        elif ecosystem == RTL433:
            topics.append(f"rtl_433/{username}/devices/{ext}/+")
        else:
            topics.append(f"wmbusmeters/{ext}")
    return tuple(topics)


def derive_principals(rows: Iterable[tuple[Device, str]]) -> list[Principal]:
    """The principals for (device, home code) rows, sorted by username; `DeployError` on a clash."""
    out: list[Principal] = []
    bridges: dict[tuple[str, str], list[tuple[Device, str]]] = {}
    for device, home in rows:
        if device.ecosystem == CJT188:
            continue
        if device.ecosystem in BRIDGED:
            name, bridge_home = _bridge_name(device, home)
            bridges.setdefault((device.ecosystem, name), []).append((device, bridge_home))
        else:
            out.append(_single(device, home))
    for (ecosystem, name), members in bridges.items():
        homes = {bridge_home for _, bridge_home in members}
        devices = sorted((device for device, _ in members), key=lambda d: d.code)
        username = check_username(f"{BRIDGED[ecosystem]}-{name}")
        out.append(
            Principal(
                username,
                "bridge",
                ecosystem,
                homes.pop() if len(homes) == 1 else "",  # "" = a site bridge serving several homes
                tuple(d.code for d in devices),
                _bridge_setting(ecosystem, username),
                _bridge_topics(ecosystem, username, devices),
            )
        )
    seen: dict[str, Principal] = {}
    for principal in out:
        if principal.username in seen:
            raise DeployError(
                f"two broker principals would share the username {principal.username!r} "
                f"(devices {', '.join(seen[principal.username].devices)} and {', '.join(principal.devices)})"
            )
        seen[principal.username] = principal
    return sorted(out, key=lambda p: p.username)


def register_principals(session: Session) -> list[Principal]:
    """Every principal the register's devices need."""
    try:
        rows = session.execute(select(Device, Home.code).join(Home, Device.home_id == Home.id)).all()
    except SQLAlchemyError as exc:
        raise DeployError(f"cannot read the devices from the register: {exc}") from exc
    return derive_principals((device, home) for device, home in rows)


def principal_of_device(session: Session, device_code: str) -> Principal:
    """The principal that publishes for `device_code`; `DeployError` if there is none (unknown, serial)."""
    for principal in register_principals(session):
        if device_code in principal.devices:
            return principal
    try:
        known = session.scalar(select(Device.ecosystem).where(Device.code == device_code))
    except SQLAlchemyError as exc:
        raise DeployError(f"cannot read device {device_code!r} from the register: {exc}") from exc
    if known is None:
        raise DeployError(f"no device with code {device_code!r} in the register")
    raise DeployError(
        f"device {device_code} ({known}) does not connect to the broker; it needs no credentials"
    )


def hub_principal(username: str, filters: Sequence[str], canary: str = "") -> Principal:
    """The hub: read access to its subscription filters; write and read only its own self-check topic."""
    if not username:
        raise DeployError("mqtt.username is empty: the hub needs its own broker user (and HUB_MQTT_PASSWORD)")
    own = (canary,) if canary else ()
    return Principal(check_username(username), "hub", "", "", (), "", own, (*filters, *own))
