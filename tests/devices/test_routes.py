"""Which topics name which device and channel — and which are never devices."""

from __future__ import annotations

import pytest

from hub.devices.model import Route
from hub.devices.registry import DeviceRegistry

REGISTRY = DeviceRegistry.default()


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("zigbee2mqtt/bedroom button", Route("zigbee2mqtt", "bedroom button", "state")),
        ("zigbee2mqtt/home-1/bedroom/button", Route("zigbee2mqtt", "home-1/bedroom/button", "state")),
        (
            "zigbee2mqtt/home-1/bedroom/button/availability",
            Route("zigbee2mqtt", "home-1/bedroom/button", "availability"),
        ),
        ("zigbee2mqtt/sos/availability", Route("zigbee2mqtt", "sos", "availability")),
        ("tele/water-meter/SENSOR", Route("tasmota", "water-meter", "SENSOR")),
        ("tele/water-meter/STATE", Route("tasmota", "water-meter", "STATE")),
        ("tele/water-meter/LWT", Route("tasmota", "water-meter", "LWT")),
        ("kitchen-node/sensor/water_total/state", Route("esphome", "kitchen-node", "sensor/water_total")),
        (
            "kitchen-node/binary_sensor/sos_button/state",
            Route("esphome", "kitchen-node", "binary_sensor/sos_button"),
        ),
        ("kitchen-node/status", Route("esphome", "kitchen-node", "status")),
        ("wmbusmeters/76348799", Route("wmbusmeters", "76348799", "telegram")),
        ("shellyplusi4-c4dd57877294/events/rpc", Route("shelly", "shellyplusi4-c4dd57877294", "events/rpc")),
        ("eldercare/elder-dev-7/heart_rate", Route("native", "elder-dev-7", "heart_rate")),
        ("eldercare/elder-dev-7/status", Route("native", "elder-dev-7", "status")),
        ("eldercare/elder-dev-7/no_such_signal", Route("native", "elder-dev-7", "no_such_signal")),
        ("cjt188/00000000000012", Route("cjt188", "00000000000012", "frame")),
        ("cjt188/0000000000abcd", Route("cjt188", "0000000000ABCD", "frame")),
        (
            "home/OMG_ESP32_BLE/BTtoMQTT/5ccad370d4a2",
            Route("openmqttgateway", "5C:CA:D3:70:D4:A2", "advertisement"),
        ),
        (
            "rtl_433/gw-h001/devices/Generic-Remote/42435/cmd",
            Route("rtl_433", "Generic-Remote/42435", "cmd"),
        ),
        (
            "rtl_433/gw-h001/devices/Generic-Remote/42435/tristate",
            Route("rtl_433", "Generic-Remote/42435", "tristate"),
        ),
    ],
)
def test_device_topics_route_to_their_device(topic: str, expected: Route) -> None:
    assert REGISTRY.route(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "zigbee2mqtt/bridge/state",
        "zigbee2mqtt/bridge/devices",
        "zigbee2mqtt/bridge/event",
        "zigbee2mqtt/bridge/logging",
        "zigbee2mqtt/bridge/info",
        "zigbee2mqtt/bridge",
        "zigbee2mqtt/bedroom button/set",
        "zigbee2mqtt/bedroom button/get",
        "zigbee2mqtt/bedroom button/set/state",
        "zigbee2mqtt",
        "homeassistant/binary_sensor/kitchen-node/sos_button/config",
        "homeassistant/sensor/kitchen-node/water_total/config",
        "homeassistant/status",
        "tele/water-meter/INFO1",
        "tele/water-meter",
        "kitchen-node/switch/relay/state",
        "kitchen-node/debug",
        "wmbusmeters",
        "eldercare/elder-dev-7",
        "cjt188/12",
        "cjt188/0000000000001Z",
        "shellyplusi4-c4dd57877294/events/other",
        "something/else/entirely",
        "home/OMG_ESP32_BLE/SYStoMQTT",
        "home/OMG_ESP32_BLE/LWT",
        "home/OMG_ESP32_BLE/BTtoMQTT/not-a-mac",
        "home/OMG_ESP32_BLE/BTtoMQTT",
        "rtl_433/gw-h001/events",
        "rtl_433/gw-h001/states",
        "rtl_433/gw-h001/devices/Generic-Remote",
    ],
)
def test_non_device_topics_are_ignored(topic: str) -> None:
    assert REGISTRY.route(topic) is None


def test_subscriptions_cover_every_mqtt_ecosystem_and_not_the_serial_one() -> None:
    filters = REGISTRY.subscriptions()
    assert set(filters) == {
        "zigbee2mqtt/#",
        "tele/#",
        "wmbusmeters/#",
        "eldercare/#",
        "+/events/rpc",
        "+/sensor/+/state",
        "+/binary_sensor/+/state",
        "+/status",
        "home/+/BTtoMQTT/+",
        "rtl_433/+/devices/#",
    }
    assert not any(f.startswith("cjt188") for f in filters)


def test_the_routing_memo_stays_bounded_under_a_flood_of_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routes are remembered per topic; topics that name no device, sent by the thousand, must neither grow
    the memo without bound nor change what a device's topic routes to."""
    monkeypatch.setattr("hub.devices.registry.ROUTE_MEMO_MAX", 8)
    registry = DeviceRegistry.default()
    button = Route("zigbee2mqtt", "bedroom button", "state")
    assert registry.route("zigbee2mqtt/bedroom button") == button
    for i in range(100):
        assert registry.route(f"junk-{i}/x/y") is None
        assert len(registry._routes) <= 8  # the bound is the point of the test
    assert registry.route("zigbee2mqtt/bedroom button") == button
    assert registry.route("tele/water-meter/SENSOR") == Route("tasmota", "water-meter", "SENSOR")
