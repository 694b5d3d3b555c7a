"""The device ecosystems the hub speaks, each with a pure ``route(topic)`` and its MQTT filters.

A route function answers one question: does this topic name a device, and which channel of it?
``None`` means "not a device message" (Zigbee2MQTT bridge topics, Home Assistant discovery, command topics)
and the pipeline ignores it. Every function splits the topic once and only compares strings — routing runs
for every message, so no regular expressions.

`ROOTS` maps a topic's first segment to the one ecosystem that owns it; topics whose first segment is a
device-chosen prefix (Shelly ids, ESPHome node names) are tried against `ROOTLESS`, in that order
(Shelly's ``<id>/events/rpc`` is more specific than ESPHome's patterns). See docs/topics.md.
"""

from __future__ import annotations

from hub.devices.model import Ecosystem, Route

ZIGBEE2MQTT = "zigbee2mqtt"
TASMOTA = "tasmota"
ESPHOME = "esphome"
WMBUSMETERS = "wmbusmeters"
SHELLY = "shelly"
NATIVE = "native"
CJT188 = "cjt188"
WATCH = "watch"
OPENMQTTGATEWAY = "openmqttgateway"
RTL433 = "rtl_433"

# Zigbee2MQTT command topics others publish under the same root; they are never device state.
_Z2M_COMMANDS = frozenset({"set", "get"})
_TASMOTA_CHANNELS = frozenset({"SENSOR", "STATE", "LWT"})
_ESPHOME_COMPONENTS = frozenset({"sensor", "binary_sensor"})
_HEX = frozenset("0123456789abcdefABCDEF")
# rtl_433's own topics beside the per-device ones: whole events and state reports, never bound to a device.
_RTL433_DEVICES = "devices"


def route_zigbee2mqtt(topic: str) -> Route | None:
    """``zigbee2mqtt/<friendly name>`` → "state"; ``…/<name>/availability`` → "availability".

    Friendly names may contain '/', so everything between the root and an optional final ``availability``
    is the name. ``zigbee2mqtt/bridge/…`` and ``…/set``/``…/get`` command topics are not devices.
    """
    parts = topic.split("/")
    if len(parts) < 2 or parts[0] != "zigbee2mqtt" or parts[1] == "bridge":
        return None
    if parts[-1] in _Z2M_COMMANDS or (len(parts) > 3 and parts[-2] in _Z2M_COMMANDS):
        return None
    if parts[-1] == "availability":
        name = "/".join(parts[1:-1])
        return Route(ZIGBEE2MQTT, name, "availability") if name else None
    name = "/".join(parts[1:])
    return Route(ZIGBEE2MQTT, name, "state") if name else None


def route_tasmota(topic: str) -> Route | None:
    """``tele/<topic>/SENSOR|STATE|LWT``; other telemetry (INFO1, RESULT, …) is not a reading."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != "tele" or parts[-1] not in _TASMOTA_CHANNELS:
        return None
    return Route(TASMOTA, "/".join(parts[1:-1]), parts[-1])


def route_esphome(topic: str) -> Route | None:
    """``<prefix>/sensor|binary_sensor/<object_id>/state`` and ``<prefix>/status``.

    ``homeassistant/…`` discovery and other components (switch, text_sensor, debug) are not readings.
    """
    parts = topic.split("/")
    if parts[0] == "homeassistant":
        return None
    n = len(parts)
    if n == 2 and parts[1] == "status" and parts[0]:
        return Route(ESPHOME, parts[0], "status")
    if n >= 4 and parts[-1] == "state" and parts[-3] in _ESPHOME_COMPONENTS:
        prefix = "/".join(parts[:-3])
        if prefix and parts[-2]:
            return Route(ESPHOME, prefix, f"{parts[-3]}/{parts[-2]}")
    return None


def route_wmbusmeters(topic: str) -> Route | None:
    """``wmbusmeters/<meter id>`` (the usual shell-hook topic), one telegram per message."""
    root, _, meter_id = topic.partition("/")
    if root != "wmbusmeters" or not meter_id:
        return None
    return Route(WMBUSMETERS, meter_id, "telegram")


def route_shelly(topic: str) -> Route | None:
    """``<device id>/events/rpc`` of a Shelly Gen2 device."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[1] != "events" or parts[2] != "rpc" or not parts[0]:
        return None
    return Route(SHELLY, parts[0], "events/rpc")


def route_native(topic: str) -> Route | None:
    """``eldercare/<device id>/<signal>`` or ``eldercare/<device id>/status``.

    The whole ``eldercare/<device>/…`` namespace belongs to devices: a channel that is not a known signal is
    still routed, so the decoder rejects it with a clear reason instead of it vanishing silently.
    """
    parts = topic.split("/", 2)
    if len(parts) < 3 or parts[0] != "eldercare" or not parts[1] or not parts[2]:
        return None
    return Route(NATIVE, parts[1], parts[2])


def route_cjt188(topic: str) -> Route | None:
    """``cjt188/<meter address, 14 hex digits>``: the synthetic topic of the serial poller."""
    root, _, address = topic.partition("/")
    if root != "cjt188" or len(address) != 14 or not _HEX.issuperset(address):
        return None
    return Route(CJT188, address.upper(), "frame")


def route_watch(topic: str) -> Route | None:
    """``watch/<device id>/<command>``: the synthetic topic of the 4G watch TCP source."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "watch" or not parts[1] or not parts[2]:
        return None
    return Route(WATCH, parts[1], parts[2])


def route_openmqttgateway(topic: str) -> Route | None:
    """``home/<gateway>/BTtoMQTT/<MAC, 12 hex digits>``: one BLE advertisement decoded by Theengs.

    The device's external id is its MAC written the usual way, ``AA:BB:CC:DD:EE:FF``, whichever gateway
    heard it (an elder's scale may be heard by two gateways). Other OpenMQTTGateway topics (``…/SYStoMQTT``,
    ``…/LWT``, ``…/BTtoMQTT`` without a MAC, commands) are not device readings.
    """
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "home" or parts[2] != "BTtoMQTT" or not parts[1]:
        return None
    mac = parts[3]
    if len(mac) != 12 or not _HEX.issuperset(mac):
        return None
    mac = mac.upper()
    return Route(OPENMQTTGATEWAY, ":".join(mac[i : i + 2] for i in range(0, 12, 2)), "advertisement")


def route_rtl433(topic: str) -> Route | None:
    """``rtl_433/<host>/devices/<model>[/<subtype>…]/<id>/<field>``: one field of one decoded radio event.

    rtl_433's ``devices`` MQTT output publishes each field of an event on its own topic under the device's
    path (model, optional type/subtype/channel, id); that path after ``devices/`` is the external id, e.g.
    ``Generic-Remote/42435``, and the field (``cmd``, ``tristate``, …) is the channel. The whole-event
    ``…/events`` and ``…/states`` topics name no device and are ignored.
    """
    parts = topic.split("/")
    if len(parts) < 6 or parts[0] != "rtl_433" or parts[2] != _RTL433_DEVICES or not all(parts[3:]):
        return None
    return Route(RTL433, "/".join(parts[3:-1]), parts[-1])


# Per-device filters (partitioned instances): exactly the topics `route_*` accepts for that one device.
# An id holding an MQTT wildcard ('+', '#') cannot be a literal filter level: `DeviceRegistry.device_filters`
# gives it none (its messages then reach no partition: say so in the site file review).


def filters_zigbee2mqtt(name: str) -> tuple[str, ...]:
    """``zigbee2mqtt/<name>`` and its ``…/availability``."""
    return (f"zigbee2mqtt/{name}", f"zigbee2mqtt/{name}/availability")


def filters_tasmota(topic: str) -> tuple[str, ...]:
    """``tele/<topic>/+`` (SENSOR, STATE, LWT; the route drops the rest)."""
    return (f"tele/{topic}/+",)


def filters_wmbusmeters(meter_id: str) -> tuple[str, ...]:
    """``wmbusmeters/<meter id>``."""
    return (f"wmbusmeters/{meter_id}",)


def filters_native(device_id: str) -> tuple[str, ...]:
    """``eldercare/<device id>/#``: the device's whole namespace (see `route_native`)."""
    return (f"eldercare/{device_id}/#",)


def filters_shelly(device_id: str) -> tuple[str, ...]:
    """``<device id>/events/rpc``."""
    return (f"{device_id}/events/rpc",)


def filters_esphome(prefix: str) -> tuple[str, ...]:
    """``<prefix>/status`` and ``<prefix>/sensor|binary_sensor/+/state``."""
    return (f"{prefix}/status", f"{prefix}/sensor/+/state", f"{prefix}/binary_sensor/+/state")


def filters_openmqttgateway(mac: str) -> tuple[str, ...]:
    """``home/+/BTtoMQTT/<MAC without colons>``: whichever gateway hears it."""
    return (f"home/+/BTtoMQTT/{mac.replace(':', '').upper()}",)


def filters_rtl433(path: str) -> tuple[str, ...]:
    """``rtl_433/+/devices/<model…/id>/+``: every field of the device's events, from any receiver."""
    return (f"rtl_433/+/devices/{path}/+",)


ECOSYSTEMS: tuple[Ecosystem, ...] = (
    Ecosystem(ZIGBEE2MQTT, ("zigbee2mqtt/#",), route_zigbee2mqtt, filters_zigbee2mqtt),
    Ecosystem(TASMOTA, ("tele/#",), route_tasmota, filters_tasmota),
    Ecosystem(WMBUSMETERS, ("wmbusmeters/#",), route_wmbusmeters, filters_wmbusmeters),
    Ecosystem(NATIVE, ("eldercare/#",), route_native, filters_native),
    Ecosystem(OPENMQTTGATEWAY, ("home/+/BTtoMQTT/+",), route_openmqttgateway, filters_openmqttgateway),
    Ecosystem(RTL433, ("rtl_433/+/devices/#",), route_rtl433, filters_rtl433),
    Ecosystem(CJT188, (), route_cjt188),  # fed by the serial poller, never subscribed
    Ecosystem(WATCH, (), route_watch),  # fed by the watch TCP source, never subscribed
    Ecosystem(SHELLY, ("+/events/rpc",), route_shelly, filters_shelly),
    Ecosystem(
        ESPHOME, ("+/sensor/+/state", "+/binary_sensor/+/state", "+/status"), route_esphome, filters_esphome
    ),
)

_BY_NAME = {ecosystem.name: ecosystem for ecosystem in ECOSYSTEMS}

# First topic segment → the ecosystem that owns it. ``None``: a known root that never carries devices.
ROOTS: dict[str, Ecosystem | None] = {
    "zigbee2mqtt": _BY_NAME[ZIGBEE2MQTT],
    "tele": _BY_NAME[TASMOTA],
    "wmbusmeters": _BY_NAME[WMBUSMETERS],
    "eldercare": _BY_NAME[NATIVE],
    "cjt188": _BY_NAME[CJT188],
    "watch": _BY_NAME[WATCH],
    "home": _BY_NAME[OPENMQTTGATEWAY],
    "rtl_433": _BY_NAME[RTL433],
    "homeassistant": None,
}

# Ecosystems whose first segment is chosen by the device, tried in this order.
ROOTLESS: tuple[Ecosystem, ...] = (_BY_NAME[SHELLY], _BY_NAME[ESPHOME])
