"""The data shapes that describe a device ecosystem and a device model.

A device model is *data*: one `DeviceDefinition` with a pure `decode` function and the signals it exposes.
An `Ecosystem` says which topics belong to it and how a topic names a device (`Route`).
The register binds (ecosystem, external id) to a home and a definition (`Binding`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.models import Reading, Signal


@dataclass(frozen=True, slots=True)
class Route:
    """What a topic says: which device (external id in its ecosystem) and which channel of it.

    `channel` is ecosystem-specific: "state", "availability", "SENSOR", "LWT", "sensor/<object_id>",
    "binary_sensor/<object_id>", "status", "events/rpc", "frame", "<signal>" for the native scheme …
    """

    ecosystem: str
    external_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class Binding:
    """The register's word on one device: where it is and how it is set up."""

    home: str  # home code
    device: str  # the hub's device code
    ecosystem: str
    external_id: str
    model: str  # key into the definitions of that ecosystem
    settings: Mapping[str, Any] = field(default_factory=dict)  # litres_per_pulse, report_interval_s, …


# What a model asks of its register settings: (settings) → problems as (field, message), e.g.
# ("settings.litres_per_pulse", "must be a positive number, got 0"). Run when a site is loaded and when the
# hub starts, so a device that could never be decoded is refused up front instead of quarantined forever.
SettingsCheck = Callable[[Mapping[str, Any]], list[tuple[str, str]]]

# A decoder is pure: (payload, route, binding, received_at) → readings. It raises DeviceError on bad input
# and returns [] for a message that legitimately carries nothing (e.g. Zigbee2MQTT's empty action echo).
DecodeFn = Callable[[bytes, Route, Binding, datetime], list[Reading]]


@dataclass(frozen=True, slots=True)
class DeviceDefinition:
    """One device model: how to decode it and which signals it exposes."""

    ecosystem: str
    model: str
    vendor: str
    description: str
    decode: DecodeFn
    exposes: frozenset[Signal]
    # Settings this model needs from the register (e.g. "litres_per_pulse"); checked when a device is loaded.
    required_settings: frozenset[str] = frozenset()
    # The values of its settings (present ones); see `DeviceRegistry.settings_problems`.
    check_settings: SettingsCheck | None = None


@dataclass(frozen=True, slots=True)
class Ecosystem:
    """A family of devices sharing a topic scheme (Zigbee2MQTT, Tasmota, ESPHome, …)."""

    name: str
    subscriptions: tuple[str, ...]  # MQTT filters that cover it
    route: Callable[[str], Route | None]  # None: not a device message (bridge, discovery) — ignored
    # The MQTT filters that cover one device (its external id) and nothing else: partitioned instances
    # subscribe per device, so that the broker routes each message to its home's partition.
    device_filters: Callable[[str], tuple[str, ...]] = lambda external_id: ()
