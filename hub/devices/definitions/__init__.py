"""Every device model the hub knows, one module per ecosystem; `ALL_DEFINITIONS` lists them all."""

from hub.devices.definitions import (
    cjt188,
    esphome,
    native,
    openmqttgateway,
    rtl433,
    shelly,
    tasmota,
    watch,
    wmbusmeters,
    zigbee2mqtt,
)
from hub.devices.model import DeviceDefinition

ALL_DEFINITIONS: tuple[DeviceDefinition, ...] = (
    *zigbee2mqtt.DEFINITIONS,
    *tasmota.DEFINITIONS,
    *esphome.DEFINITIONS,
    *wmbusmeters.DEFINITIONS,
    *shelly.DEFINITIONS,
    *native.DEFINITIONS,
    *cjt188.DEFINITIONS,
    *watch.DEFINITIONS,
    *openmqttgateway.DEFINITIONS,
    *rtl433.DEFINITIONS,
)

__all__ = ["ALL_DEFINITIONS"]
