"""Loads the recorded payload fixtures (``fixtures/<ecosystem>/<model>.json``) shared by the device tests.

A model name's ``/`` (``JTQJ-BF-01LM/BW``) is ``_`` in the file name. Payloads are text, or ``b64:<base64>``
for binary frames. ``settings`` are the binding's settings for that case.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.devices.model import Binding, Route
from hub.devices.registry import DeviceRegistry
from hub.models import RawMessage, Reading

FIXTURES = Path(__file__).parent / "fixtures"
RECEIVED_AT = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
HOME = "home-1"
DEVICE = "dev-1"
REGISTRY = DeviceRegistry.default()


def fixture_path(ecosystem: str, model: str) -> Path:
    """Where the fixture file of a model lives."""
    return FIXTURES / ecosystem / f"{model.replace('/', '_')}.json"


@dataclass(frozen=True)
class FixtureCase:
    """One recorded message of one model, with what it must decode to (or the error it must raise)."""

    ecosystem: str
    model: str
    index: int
    topic: str
    payload: bytes
    settings: dict[str, Any] = field(default_factory=dict)
    expect: list[dict[str, Any]] | None = None
    expect_error: str | None = None

    @property
    def id(self) -> str:
        """A readable pytest id."""
        return f"{self.ecosystem}/{self.model}#{self.index}"


def _payload(text: str) -> bytes:
    return base64.b64decode(text[4:]) if text.startswith("b64:") else text.encode("utf-8")


def load_cases() -> list[FixtureCase]:
    """Every case of every fixture file, resolving the model from the registry's definitions."""
    models = {(d.ecosystem, d.model.replace("/", "_")): d.model for d in REGISTRY.models()}
    cases: list[FixtureCase] = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        ecosystem = path.parent.name
        model = models.get((ecosystem, path.stem), path.stem)
        for index, raw in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            cases.append(
                FixtureCase(
                    ecosystem=ecosystem,
                    model=model,
                    index=index,
                    topic=raw["topic"],
                    payload=_payload(raw["payload"]),
                    settings=raw.get("settings", {}),
                    expect=raw.get("expect"),
                    expect_error=raw.get("expect_error"),
                )
            )
    return cases


def route_of(case: FixtureCase) -> Route:
    """The route of the case's topic; it must belong to the case's ecosystem."""
    route = REGISTRY.route(case.topic)
    assert route is not None, f"{case.id}: topic {case.topic!r} is not routed"
    assert route.ecosystem == case.ecosystem, f"{case.id}: routed to {route.ecosystem}"
    return route


def binding_of(case: FixtureCase, route: Route, settings: dict[str, Any] | None = None) -> Binding:
    """A binding of the case's model at `HOME`/`DEVICE`."""
    return Binding(
        home=HOME,
        device=DEVICE,
        ecosystem=case.ecosystem,
        external_id=route.external_id,
        model=case.model,
        settings=case.settings if settings is None else settings,
    )


def decode_case(case: FixtureCase, settings: dict[str, Any] | None = None) -> list[Reading]:
    """Route and decode the case through the registry, as the pipeline does."""
    route = route_of(case)
    # A recording may be of any age (it was held since it was recorded), so its own time is plausible: the
    # fixtures check what the decoder reads; tests/devices/test_device_time.py checks the bounds.
    raw = RawMessage(
        "mqtt", case.topic, case.payload, RECEIVED_AT, (datetime.min.replace(tzinfo=UTC), RECEIVED_AT)
    )
    return REGISTRY.decode(raw, route, binding_of(case, route, settings))
