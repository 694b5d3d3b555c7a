"""Invariants that hold for every device definition; adding a model adds its checks for free."""

from __future__ import annotations

import copy
from collections import defaultdict

from hub.devices.ecosystems import ECOSYSTEMS
from hub.devices.errors import DeviceError
from hub.devices.model import DeviceDefinition
from hub.models import Reading, Signal
from tests.devices.fixture_cases import REGISTRY, FixtureCase, decode_case, fixture_path, load_cases


def _decode_or_error(case: FixtureCase, settings: dict[str, object]) -> list[Reading] | str:
    try:
        return decode_case(case, settings)
    except DeviceError as exc:
        return f"DeviceError: {exc}"


def test_every_definition_is_complete_consistent_and_pure() -> None:
    definitions = REGISTRY.models()
    ecosystems = {e.name for e in ECOSYSTEMS}
    problems: list[str] = []

    keys = [(d.ecosystem, d.model) for d in definitions]
    if len(keys) != len(set(keys)):
        problems.append(f"duplicate (ecosystem, model): {sorted(k for k in keys if keys.count(k) > 1)}")

    by_key: dict[tuple[str, str], DeviceDefinition] = {}
    for d in definitions:
        by_key[(d.ecosystem, d.model)] = d
        if d.ecosystem not in ecosystems:
            problems.append(f"{d.model}: unknown ecosystem {d.ecosystem!r}")
        if not d.description.strip() or not d.vendor.strip():
            problems.append(f"{d.ecosystem}/{d.model}: empty description or vendor")
        if not d.exposes:
            problems.append(f"{d.ecosystem}/{d.model}: exposes nothing")
        if not fixture_path(d.ecosystem, d.model).is_file():
            problems.append(f"{d.ecosystem}/{d.model}: no fixture file {fixture_path(d.ecosystem, d.model)}")

    produced: dict[tuple[str, str], set[Signal]] = defaultdict(set)
    cases_per_model: dict[tuple[str, str], int] = defaultdict(int)
    for case in load_cases():
        key = (case.ecosystem, case.model)
        cases_per_model[key] += 1
        definition = by_key.get(key)
        if definition is None:
            problems.append(f"{case.id}: fixture for a model that has no definition")
            continue
        settings = copy.deepcopy(case.settings)
        first = _decode_or_error(case, settings)
        second = _decode_or_error(case, settings)
        if first != second:
            problems.append(f"{case.id}: decoding twice gave different results")
        if settings != case.settings:
            problems.append(f"{case.id}: decode mutated the binding settings")
        if isinstance(first, list):
            for reading in first:
                produced[key].add(reading.signal)
                if reading.signal not in definition.exposes:
                    problems.append(f"{case.id}: produced {reading.signal} which the model does not expose")

    for key, definition in by_key.items():
        if cases_per_model[key] == 0:
            problems.append(f"{key}: fixture file has no case")
        missing = definition.exposes - produced[key]
        if missing:
            problems.append(f"{key}: no fixture case produces {sorted(missing)}")

    assert not problems, "\n".join(problems)
