"""Garbled device messages: every decoder answers with readings or a `DeviceError` that says what is wrong.

A device that sends a field of the wrong type (an object for a button action, a number for an availability
state) must get its message quarantined with that reason, never crash its decoder: a crash is quarantined too,
but as "解码器内部错误" with a Python error the duty officer cannot act on. With the per-message modules
compiled (`make native`), mypyc also checks annotations at run time, so a wrong-typed value that reached a
typed local would be a TypeError there even where Python let it through; this runs against whichever the
suite has (`make test` compiles them).
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest

from hub.devices.errors import DeviceError
from tests.devices.fixture_cases import FixtureCase, decode_case, load_cases

# Values of every JSON type, including the ones no device field should hold.
GARBAGE: tuple[Any, ...] = (
    None, "", "x", "online", "single", "emergency", 0, 1, -1, 255, 0.5, 1e308, -1e308, True, False,
    [], {}, [1], [None], {"a": 1}, {"C1": 5}, {"C1": "a"}, 2**70, -(2**70), 12345678901234, "12",
    "2024-05-01T08:00:00Z",
)  # fmt: skip
MUTATIONS = 40  # a case


def _json_cases() -> list[FixtureCase]:
    cases = []
    for case in load_cases():
        try:
            doc = json.loads(case.payload)
        except ValueError:
            continue  # binary frames and plain text: tests/devices/test_fixtures.py
        if isinstance(doc, (dict, list)):
            cases.append(case)
    return cases


def _mutate(value: Any, rng: random.Random) -> Any:
    """`value` with one to three of its fields (at any depth) replaced by garbage."""
    if isinstance(value, dict) and value:
        value = dict(value)
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(list(value))
            inner = value[key]
            nested = isinstance(inner, (dict, list)) and inner and rng.random() < 0.5
            value[key] = _mutate(inner, rng) if nested else rng.choice(GARBAGE)
        return value
    if isinstance(value, list) and value:
        value = list(value)
        i = rng.randrange(len(value))
        inner = value[i]
        nested = isinstance(inner, (dict, list)) and inner and rng.random() < 0.5
        value[i] = _mutate(inner, rng) if nested else rng.choice(GARBAGE)
        return value
    return rng.choice(GARBAGE)


@pytest.mark.parametrize("case", _json_cases(), ids=lambda c: c.id)
def test_a_garbled_field_is_a_device_error_naming_it_never_a_decoder_crash(case: FixtureCase) -> None:
    rng = random.Random(case.id)  # the same garbage on every run
    doc = json.loads(case.payload)
    for _ in range(MUTATIONS):
        payload = json.dumps(_mutate(doc, rng)).encode()
        try:
            decode_case(dataclasses.replace(case, payload=payload))
        except DeviceError:
            pass
        except Exception as exc:  # what the pipeline would quarantine as 解码器内部错误
            pytest.fail(f"{case.id}: {payload.decode()!r} crashed the decoder: {type(exc).__name__}: {exc}")
