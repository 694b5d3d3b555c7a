"""The hub's self-check message (the canary): its reserved topic, route and decoder.

The hub publishes ``eldercare-hub/canary/<client id>`` on its own broker; the message is routed and decoded
like a device's, so its round trip proves broker → source → decode → store → register. It belongs to the
reserved home `CANARY_HOME`, which is never in the register: the rules engine never sees it (the self-check
intercepts it before the engine), so it is no elder's sign of life, and it is never quarantined.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Ecosystem, Route
from hub.models import Reading, Signal

if TYPE_CHECKING:
    from hub.devices.device_time import DeviceTimePolicy
    from hub.devices.registry import DeviceRegistry

CANARY_ECOSYSTEM = "hub"
CANARY_ROOT = "eldercare-hub"
CANARY_MODEL = "canary"
CANARY_HOME = "__hub__"  # no home code of the register can look like this (codes are site data, e.g. H0001)
CANARY_DEVICE = "hub-canary"


def canary_topic(client_id: str) -> str:
    """The canary topic of the hub whose MQTT client id is `client_id`."""
    return f"{CANARY_ROOT}/canary/{client_id}"


def is_canary(topic: str) -> bool:
    """Whether `topic` is a hub's canary (never a device message)."""
    return topic.startswith(CANARY_ROOT + "/")


def route_canary(topic: str) -> Route | None:
    """``eldercare-hub/canary/<client id>`` → the canary of that hub; anything else under the root: ignored."""
    parts = topic.split("/", 2)
    if len(parts) != 3 or parts[0] != CANARY_ROOT or parts[1] != "canary" or not parts[2]:
        return None
    return Route(CANARY_ECOSYSTEM, parts[2], "canary")


def decode_canary(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
    """The payload is the sequence number the hub sent; the reading says "the hub is there" (1.0)."""
    if not payload.strip().isdigit():
        raise DeviceError(f"canary: payload must be a sequence number, got {payload[:40]!r}")
    return [Reading(binding.home, binding.device, Signal.AVAILABILITY, 1.0, received_at)]


CANARY_ECOSYSTEM_DEF = Ecosystem(CANARY_ECOSYSTEM, (), route_canary)
CANARY_DEFINITION = DeviceDefinition(
    ecosystem=CANARY_ECOSYSTEM,
    model=CANARY_MODEL,
    vendor="eldercare-hub",
    description="the hub's own self-check message",
    decode=decode_canary,
    exposes=frozenset({Signal.AVAILABILITY}),
)


def canary_binding(client_id: str) -> Binding:
    """The synthetic binding of this hub's canary (never stored in the register)."""
    return Binding(CANARY_HOME, CANARY_DEVICE, CANARY_ECOSYSTEM, client_id, CANARY_MODEL)


def registry_with_canary(time_policy: DeviceTimePolicy | None = None) -> DeviceRegistry:
    """The default device registry plus the canary ecosystem (what the running hub routes with)."""
    from hub.devices.definitions import ALL_DEFINITIONS
    from hub.devices.ecosystems import ECOSYSTEMS, ROOTLESS, ROOTS
    from hub.devices.registry import DeviceRegistry

    return DeviceRegistry(
        (*ECOSYSTEMS, CANARY_ECOSYSTEM_DEF),
        (*ALL_DEFINITIONS, CANARY_DEFINITION),
        {**ROOTS, CANARY_ROOT: CANARY_ECOSYSTEM_DEF},
        ROOTLESS,
        time_policy,
    )
