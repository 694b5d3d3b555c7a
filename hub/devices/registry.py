"""`DeviceRegistry`: every ecosystem and device definition, routing topics and decoding messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub.devices.definitions import ALL_DEFINITIONS
from hub.devices.device_time import DeviceTimePolicy
from hub.devices.ecosystems import ECOSYSTEMS, ROOTLESS, ROOTS
from hub.devices.errors import DeviceError, UnknownDeviceError
from hub.devices.model import Binding, DeviceDefinition, Ecosystem, Route
from hub.devices.ranges import RangeError, check_ranges
from hub.models import RawMessage, Reading

# Topics whose routes are remembered. A district's devices use a few topics each (tens of thousands in
# all); a flood of distinct junk topics only empties the memo, it cannot grow it without bound.
ROUTE_MEMO_MAX = 100_000


class DeviceRegistry:
    """Routes topics to devices and decodes raw messages with the bound device's definition.

    Routing is on the hot path: the first topic segment picks the owning ecosystem with one dict lookup;
    only topics under a device-chosen prefix (Shelly, ESPHome) try the `ROOTLESS` patterns in order.
    Every decoded reading passes the `DeviceTimePolicy`, so no source can bring in an implausible device time.
    """

    def __init__(
        self,
        ecosystems: Iterable[Ecosystem],
        definitions: Iterable[DeviceDefinition],
        roots: dict[str, Ecosystem | None] | None = None,
        rootless: Iterable[Ecosystem] = (),
        time_policy: DeviceTimePolicy | None = None,
    ) -> None:
        self.time_policy = time_policy or DeviceTimePolicy()
        self._ecosystems = {ecosystem.name: ecosystem for ecosystem in ecosystems}
        self._definitions: dict[tuple[str, str], DeviceDefinition] = {}
        for definition in definitions:
            key = (definition.ecosystem, definition.model)
            if key in self._definitions:
                raise ValueError(f"duplicate device definition {key}")
            if definition.ecosystem not in self._ecosystems:
                raise ValueError(f"definition {key} names unknown ecosystem {definition.ecosystem!r}")
            self._definitions[key] = definition
        self._roots = dict(roots or {})
        self._rootless = tuple(rootless)
        # topic → route: a route depends on nothing but the topic, and each message is routed twice (the
        # session's twin check, then decoding), so parsing the same topics again was a measurable share.
        self._routes: dict[str, Route | None] = {}

    @classmethod
    def default(cls, time_policy: DeviceTimePolicy | None = None) -> DeviceRegistry:
        """The registry of every ecosystem and definition shipped with the hub."""
        return cls(ECOSYSTEMS, ALL_DEFINITIONS, ROOTS, ROOTLESS, time_policy)

    def subscriptions(self) -> list[str]:
        """The MQTT topic filters covering every ecosystem (the serial-only CJ/T 188 has none)."""
        return [f for ecosystem in self._ecosystems.values() for f in ecosystem.subscriptions]

    def device_filters(self, binding: Binding) -> tuple[str, ...]:
        """The MQTT filters that cover exactly `binding`'s device (none for an unknown ecosystem, a
        serial/TCP-fed one, or an id holding an MQTT wildcard)."""
        ecosystem = self._ecosystems.get(binding.ecosystem)
        if ecosystem is None or "+" in binding.external_id or "#" in binding.external_id:
            return ()
        return ecosystem.device_filters(binding.external_id)

    def route(self, topic: str) -> Route | None:
        """Which device and channel `topic` names, or None for a topic that is not a device message."""
        try:
            return self._routes[topic]
        except KeyError:
            pass
        found = self._route(topic)
        if len(self._routes) >= ROUTE_MEMO_MAX:
            self._routes.clear()
        self._routes[topic] = found
        return found

    def _route(self, topic: str) -> Route | None:
        root = topic.partition("/")[0]
        if root in self._roots:
            owner = self._roots[root]
            return None if owner is None else owner.route(topic)
        for ecosystem in self._rootless:
            found = ecosystem.route(topic)
            if found is not None:
                return found
        return None

    def definition(self, ecosystem: str, model: str) -> DeviceDefinition:
        """The definition of `model` in `ecosystem`; `UnknownDeviceError` if there is none."""
        try:
            return self._definitions[(ecosystem, model)]
        except KeyError:
            raise UnknownDeviceError(f"no device model {model!r} in ecosystem {ecosystem!r}") from None

    def model_names(self, ecosystem: str) -> list[str]:
        """The models of `ecosystem` (empty for an unknown ecosystem)."""
        return sorted(model for eco, model in self._definitions if eco == ecosystem)

    def unknown_model(self, ecosystem: str, model: str) -> str:
        """Why (`ecosystem`, `model`) names no definition, listing what exists instead."""
        if ecosystem not in self._ecosystems:
            return f"unknown ecosystem {ecosystem!r}; ecosystems: {', '.join(sorted(self._ecosystems))}"
        return f"unknown model {model!r} for ecosystem {ecosystem!r}; its models: {', '.join(self.model_names(ecosystem))}"

    def settings_problems(
        self, ecosystem: str, model: str, settings: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        """What is wrong with a device's settings for its model, as (field, message); [] when nothing is."""
        definition = self.definition(ecosystem, model)
        problems = [
            (f"settings.{name}", f"model {model} requires setting '{name}'")
            for name in sorted(definition.required_settings)
            if name not in settings
        ]
        if definition.check_settings is not None:
            problems += definition.check_settings(settings)
        return problems

    def binding_problems(self, binding: Binding) -> list[str]:
        """What makes a registered device undecodable (unknown model, settings), as "field: message" lines."""
        if not self.knows(binding.ecosystem, binding.model):
            return [f"model: {self.unknown_model(binding.ecosystem, binding.model)}"]
        return [
            f"{field}: {message}"
            for field, message in self.settings_problems(binding.ecosystem, binding.model, binding.settings)
        ]

    def knows(self, ecosystem: str, model: str) -> bool:
        """Whether `model` is a known model of `ecosystem` (the site loader's check)."""
        return (ecosystem, model) in self._definitions

    def decode(self, raw: RawMessage, route: Route, binding: Binding) -> list[Reading]:
        """Decode `raw` (routed to `route`) for the device `binding` describes; `DeviceError` if it cannot.

        Every reading is checked against its signal's physical range here, once for every source and
        decoder; `RangeError` (a `DeviceError`) carries the readings that are possible.
        """
        if binding.ecosystem != route.ecosystem:
            raise DeviceError(
                f"device {binding.device} is bound in {binding.ecosystem!r}, message came from {route.ecosystem!r}"
            )
        definition = self.definition(route.ecosystem, binding.model)
        readings = definition.decode(raw.payload, route, binding, raw.received_at)
        try:
            checked = check_ranges(readings)
        except RangeError as exc:  # the possible readings go on, with their time settled like any other
            raise RangeError(str(exc), self.time_policy.settle(exc.kept, raw)) from exc
        return self.time_policy.settle(checked, raw)

    def models(self) -> list[DeviceDefinition]:
        """Every definition, ordered by ecosystem then model."""
        return [self._definitions[key] for key in sorted(self._definitions)]
