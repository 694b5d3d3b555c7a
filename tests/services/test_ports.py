"""The test services' ports never come from the range outgoing connections use, and never twice."""

from __future__ import annotations

import socket

import pytest

from tests.services import ports
from tests.services.ports import HIGH, LOW, free_port


def _ephemeral_range() -> tuple[int, int]:
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
        low, high = (int(x) for x in f.read().split())
    return low, high


def test_ports_are_distinct_free_and_outside_the_outgoing_range() -> None:
    low, high = _ephemeral_range()
    assert low >= HIGH or high < LOW, "the ports' range overlaps this kernel's ephemeral range"
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(LOW <= p < HIGH and not low <= p <= high for p in ports)


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        port = free_port()
        held.bind(("127.0.0.1", port))
        held.listen()
        monkeypatch.setattr(ports, "_next", port)  # the held port is the next one the sequence tries
        assert free_port() != port
