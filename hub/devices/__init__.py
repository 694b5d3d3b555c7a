"""Devices as data: ecosystems route topics, definitions hold pure decoders and what they expose."""

from hub.devices.errors import DeviceError, UnknownDeviceError
from hub.devices.model import Binding, DecodeFn, DeviceDefinition, Ecosystem, Route

__all__ = [
    "Binding",
    "DecodeFn",
    "DeviceDefinition",
    "DeviceError",
    "Ecosystem",
    "Route",
    "UnknownDeviceError",
]
