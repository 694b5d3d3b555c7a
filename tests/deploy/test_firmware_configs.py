"""Every file under firmware_configs/ publishes topics and payloads that the hub's device definitions decode,
as the register binds them (firmware_configs/site-example.yaml), within the broker ACL of its principal.

Topics are derived from each file the way the firmware does it: ESPHome from ``mqtt: topic_prefix`` and the
component names (plus explicit ``mqtt.publish`` actions), Tasmota from ``Topic``/``FullTopic``, Zigbee2MQTT
from ``base_topic`` and the friendly names. The payloads are the shapes that firmware sends for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.deploy.principals import Principal, derive_principals
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.models import RawMessage, Signal
from hub.register.models import Device
from hub.register.site import parse_site
from tests.services.mosquitto import ROOT

FIRMWARE = ROOT / "firmware_configs"
SITE = FIRMWARE / "site-example.yaml"
RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# The sample payloads are recordings of any age: their own times are plausible (tests/devices/test_device_time.py
# checks the bounds of live ones).
RECORDED = (datetime.min.replace(tzinfo=UTC), RECEIVED)
Z2M_LAST_SEEN = "2024-05-01T00:00:00.000Z"

# What each file must make the hub read. A new file without an entry here fails the test on purpose.
EXPECTED: dict[str, set[Signal]] = {
    "esphome/water-meter.yaml": {Signal.WATER_TOTAL, Signal.WATER_FLOW, Signal.AVAILABILITY},
    "esphome/sos-button.yaml": {Signal.SOS, Signal.AVAILABILITY},
    "esphome/pir-sensor.yaml": {Signal.MOTION, Signal.AVAILABILITY},
    "tasmota/pulse-counter.txt": {Signal.WATER_TOTAL, Signal.AVAILABILITY},
    "zigbee2mqtt/configuration.yaml": {Signal.SOS, Signal.MOTION, Signal.CONTACT, Signal.AVAILABILITY},
}
# Zigbee2MQTT state as each model sends it (docs: DEVICE_FORMATS.md).
Z2M_STATES: dict[str, dict[str, Any]] = {
    "TS0215A_sos": {"action": "emergency", "battery": None, "linkquality": 90},
    "RTCGQ11LM": {"occupancy": True, "illuminance": 40, "battery": 97, "linkquality": 60},
    "MCCGQ11LM": {"contact": False, "battery": 91, "linkquality": 70},
}

Message = tuple[str, bytes]


class _FirmwareLoader(yaml.SafeLoader):
    """YAML with ESPHome's tags: a secret or a lambda is kept as a marker string."""


_FirmwareLoader.add_constructor("!secret", lambda loader, node: f"<secret {loader.construct_scalar(node)}>")  # type: ignore[arg-type]
_FirmwareLoader.add_constructor("!lambda", lambda loader, node: "<lambda>")


def _bindings() -> dict[tuple[str, str], Binding]:
    site = parse_site(SITE, devices=DeviceRegistry.default())
    return {
        (d.ecosystem, d.external_id): Binding(
            home.code, d.code, d.ecosystem, d.external_id, d.model, d.settings
        )
        for home in site.homes
        for d in home.devices
    }


def _principals() -> dict[str, Principal]:
    site = parse_site(SITE, devices=DeviceRegistry.default())
    rows = [
        (
            Device(
                code=d.code,
                ecosystem=d.ecosystem,
                external_id=d.external_id,
                model=d.model,
                settings=d.settings,
            ),
            h.code,
        )
        for h in site.homes
        for d in h.devices
    ]
    return {p.username: p for p in derive_principals(rows)}


def _allowed(pattern: str, topic: str) -> bool:
    """MQTT filter matching, as the broker applies the ACL's write patterns."""
    pat, top = pattern.split("/"), topic.split("/")
    for i, part in enumerate(pat):
        if part == "#":
            return True
        if i >= len(top) or (part != "+" and part != top[i]):
            return False
    return len(pat) == len(top)


# ---------------------------------------------------------------------------------------------- ESPHome


def _substitute(value: Any, subs: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: subs[m.group(1) or m.group(2)], value)
    if isinstance(value, list):
        return [_substitute(v, subs) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, subs) for k, v in value.items()}
    return value


def _object_id(name: str) -> str:
    """ESPHome's object id: the name in snake case with anything but [a-z0-9_-] replaced by '_'."""
    return re.sub(r"[^a-z0-9_-]", "_", name.lower().replace(" ", "_"))


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from _walk(child)


def esphome_messages(doc: dict[str, Any]) -> tuple[str, list[Message]]:
    """(broker username, what the node publishes)."""
    doc = _substitute(doc, {k: str(v) for k, v in doc.get("substitutions", {}).items()})
    mqtt = doc["mqtt"]
    assert mqtt.get("discovery") is False, "discovery topics are outside the node's ACL"
    prefix = mqtt.get("topic_prefix", doc["esphome"]["name"])
    out: list[Message] = [(f"{prefix}/status", b"online"), (f"{prefix}/status", b"offline")]
    for domain, samples in (("sensor", [b"12.5", b"nan"]), ("binary_sensor", [b"ON", b"OFF"])):
        for entity in doc.get(domain, []):
            for item in (entity, entity.get("total")):  # pulse_meter's `total` is a sensor of its own
                if not isinstance(item, dict) or item.get("internal") or "name" not in item:
                    continue
                topic = item.get("state_topic", f"{prefix}/{domain}/{_object_id(item['name'])}/state")
                out += [(topic, sample) for sample in samples]
    for node in _walk(doc):
        if isinstance(node, dict) and "mqtt.publish" in node:
            action = node["mqtt.publish"]
            assert action.get("qos") == 1 and action.get("retain") is False, action
            out.append((action["topic"], str(action["payload"]).encode()))
    return str(mqtt["username"]), out


# ---------------------------------------------------------------------------------------------- Tasmota


def tasmota_commands(text: str) -> dict[str, str]:
    """The console commands of a settings file (``Backlog`` split), by lower-case name."""
    commands: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        body = line[len("backlog") :] if line.lower().startswith("backlog ") else line
        for command in body.split(";"):
            name, _, value = command.strip().partition(" ")
            commands[name.lower()] = value.strip()
    return commands


def tasmota_messages(text: str) -> tuple[str, list[Message]]:
    c = tasmota_commands(text)
    assert c["fulltopic"] == "%prefix%/%topic%/", "the hub reads tele/<topic>/…"
    assert c.get("setoption52") == "1", "without SetOption52 Time has no zone"
    assert "countertype1" in c, "no counter configured"
    base = f"tele/{c['topic']}"
    sensor = {"Time": "2024-05-01T08:00:00+08:00", "COUNTER": {"C1": 1234}}
    state = {"Time": "2024-05-01T08:00:00+08:00", "Uptime": "0T00:05:00", "Wifi": {"RSSI": 70}}
    return c["mqttuser"], [
        (f"{base}/SENSOR", json.dumps(sensor).encode()),
        (f"{base}/STATE", json.dumps(state).encode()),
        (f"{base}/LWT", b"Online"),
        (f"{base}/LWT", b"Offline"),
    ]


# -------------------------------------------------------------------------------------------- Zigbee2MQTT


def z2m_messages(doc: dict[str, Any], bindings: dict[tuple[str, str], Binding]) -> tuple[str, list[Message]]:
    assert doc["mqtt"]["base_topic"] == "zigbee2mqtt"
    assert doc["advanced"]["last_seen"] == "ISO_8601"
    assert doc["availability"]["enabled"] is True
    out: list[Message] = []
    for device in doc["devices"].values():
        name = device["friendly_name"]
        model = bindings[("zigbee2mqtt", name)].model
        state = {**Z2M_STATES[model], "last_seen": Z2M_LAST_SEEN}
        out += [
            (f"zigbee2mqtt/{name}", json.dumps(state).encode()),
            (f"zigbee2mqtt/{name}/availability", b'{"state":"online"}'),
        ]
    return str(doc["mqtt"]["user"]), out


# ------------------------------------------------------------------------------------------------ tests


def _files() -> list[Path]:
    return sorted(p for p in FIRMWARE.rglob("*") if p.is_file() and p != SITE and p.suffix != ".md")


def test_every_firmware_file_has_an_expectation() -> None:
    assert sorted(str(p.relative_to(FIRMWARE)) for p in _files()) == sorted(EXPECTED)


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(FIRMWARE)))
def test_firmware_file_speaks_what_the_hub_decodes(path: Path) -> None:
    bindings = _bindings()
    principals = _principals()
    registry = DeviceRegistry.default()
    kind = path.relative_to(FIRMWARE).parts[0]
    text = path.read_text(encoding="utf-8")
    if kind == "esphome":
        username, messages = esphome_messages(yaml.load(text, Loader=_FirmwareLoader))
    elif kind == "tasmota":
        username, messages = tasmota_messages(text)
    else:
        username, messages = z2m_messages(yaml.safe_load(text), bindings)
    assert username in principals, f"{username} is not a broker user the register derives"
    principal = principals[username]

    signals: set[Signal] = set()
    for topic, payload in messages:
        assert any(_allowed(p, topic) for p in principal.publish), f"{username} may not publish {topic}"
        route = registry.route(topic)
        assert route is not None, f"the hub does not route {topic}"
        binding = bindings[(route.ecosystem, route.external_id)]
        assert binding.device in principal.devices
        readings = registry.decode(RawMessage("mqtt", topic, payload, RECEIVED, RECORDED), route, binding)
        signals |= {r.signal for r in readings}
        if kind == "zigbee2mqtt" and route.channel == "state":  # last_seen is the reading time
            assert {r.ts for r in readings} == {datetime(2024, 5, 1, tzinfo=UTC)}
        if kind == "tasmota" and route.channel == "SENSOR":  # Time with its zone is the reading time
            assert [r.ts for r in readings] == [datetime(2024, 5, 1, tzinfo=UTC)]
    assert EXPECTED[str(path.relative_to(FIRMWARE))] <= signals
