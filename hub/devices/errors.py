"""Errors raised while turning a raw message into readings."""

from hub.errors import HubError


class DeviceError(HubError):
    """A message could not be decoded; the text is the quarantine reason shown to operators."""


class UnknownDeviceError(DeviceError):
    """The topic is a device topic, but no device in the register is bound to it."""
