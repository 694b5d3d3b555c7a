"""Which principals the register's devices need, and what each may publish (pure: no broker)."""

from __future__ import annotations

from typing import Any

import pytest

from hub.deploy.errors import DeployError
from hub.deploy.principals import derive_principals
from hub.register.models import Device


def _dev(code: str, ecosystem: str, external_id: str, **settings: Any) -> Device:
    return Device(code=code, ecosystem=ecosystem, external_id=external_id, model="m", settings=settings)


def test_zigbee_devices_of_a_home_share_its_bridge_and_only_their_own_names() -> None:
    principals = derive_principals(
        [
            (_dev("H1-sos", "zigbee2mqtt", "h1_sos"), "H1"),
            (_dev("H1-pir", "zigbee2mqtt", "h1/hall pir"), "H1"),
            (_dev("H2-sos", "zigbee2mqtt", "h2_sos"), "H2"),
        ]
    )
    by_user = {p.username: p for p in principals}
    assert set(by_user) == {"z2m-H1", "z2m-H2"}
    assert by_user["z2m-H1"].publish == (
        "zigbee2mqtt/h1/hall pir",
        "zigbee2mqtt/h1/hall pir/availability",
        "zigbee2mqtt/h1_sos",
        "zigbee2mqtt/h1_sos/availability",
    )
    assert by_user["z2m-H1"].read == ()


def test_a_site_bridge_serves_the_homes_that_name_it() -> None:
    principals = derive_principals(
        [
            (_dev("H1-sos", "zigbee2mqtt", "h1_sos", bridge="block7"), "H1"),
            (_dev("H2-sos", "zigbee2mqtt", "h2_sos", bridge="block7"), "H2"),
            (_dev("H2-meter", "wmbusmeters", "33225544", bridge="block7"), "H2"),
        ]
    )
    by_user = {p.username: p for p in principals}
    assert by_user["z2m-block7"].devices == ("H1-sos", "H2-sos") and by_user["z2m-block7"].home == ""
    assert by_user["wmbus-block7"].publish == ("wmbusmeters/33225544",)


def test_single_device_principals_get_one_level_below_their_own_topic() -> None:
    principals = derive_principals(
        [
            (_dev("T1", "tasmota", "h1_water"), "H1"),
            (_dev("E1", "esphome", "h1-pir"), "H1"),
            (_dev("N1", "native", "cuff-3"), "H1"),
            (_dev("S1", "shelly", "shellyplus1-a8"), "H1"),
            (_dev("C1", "cjt188", "00000000000012"), "H1"),  # serial: no broker user
        ]
    )
    assert {p.username: p.publish for p in principals} == {
        "T1": ("tele/h1_water/+", "stat/h1_water/+"),
        "E1": ("h1-pir/status", "h1-pir/sensor/+/state", "h1-pir/binary_sensor/+/state"),
        "N1": ("eldercare/cuff-3/#",),
        "S1": ("shellyplus1-a8/events/rpc",),
    }


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (_dev("E1", "esphome", "tele"), "reserved root"),
        (_dev("T1", "tasmota", "h1/#"), "wildcard"),
        (_dev("N1", "native", "a/b"), "must not contain '/'"),
        (_dev("bad:code", "tasmota", "t"), "cannot be a broker username"),
        (_dev("Z1", "zigbee2mqtt", "bridge"), "Zigbee2MQTT's own topic"),
    ],
)
def test_what_cannot_be_an_acl_is_refused_with_the_reason(device: Device, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        derive_principals([(device, "H1")])


def test_a_username_clash_is_refused() -> None:
    with pytest.raises(DeployError, match="share the username"):
        derive_principals([(_dev("z2m-H1", "tasmota", "t"), "H1"), (_dev("Z", "zigbee2mqtt", "z"), "H1")])


def test_radio_receivers_publish_only_their_own_monitors_and_sensors() -> None:
    principals = derive_principals(
        [
            (_dev("H1-scale", "openmqttgateway", "5C:CA:D3:70:D4:A2"), "H1"),
            (_dev("H1-band", "openmqttgateway", "E7:1A:2B:3C:4D:5E"), "H1"),
            (_dev("H1-rf-sos", "rtl_433", "Generic-Remote/42435"), "H1"),
        ]
    )
    by_user = {p.username: p for p in principals}
    assert by_user["omg-H1"].kind == "bridge" and by_user["omg-H1"].setting == "omg-H1"
    assert by_user["omg-H1"].publish == (
        "home/omg-H1/BTtoMQTT/E71A2B3C4D5E",
        "home/omg-H1/BTtoMQTT/5CCAD370D4A2",
    )
    assert by_user["rtl433-H1"].publish == ("rtl_433/rtl433-H1/devices/Generic-Remote/42435/+",)
    assert by_user["rtl433-H1"].setting.startswith("rtl_433/rtl433-H1/devices")


def test_a_ble_monitor_must_be_registered_by_its_mac() -> None:
    with pytest.raises(DeployError, match="MAC as AA:BB:CC:DD:EE:FF"):
        derive_principals([(_dev("H1-scale", "openmqttgateway", "5ccad370d4a2"), "H1")])
