"""Free TCP ports for the test services and hubs, outside the kernel's range for outgoing connections.

A port from ``bind(("127.0.0.1", 0))`` comes from the ephemeral range (32768–60999 on Linux), the range
every outgoing connection also draws from: a port handed to a hub's config and bound seconds later was
taken in between by one of the other hub's connections to PostgreSQL or the broker ("HTTP port already in
use", a red CI run). Ports here come from below that range, one after the other from a random start (so
that two calls in one process never return the same port, and processes of one run rarely meet), each
checked to be free when handed out.
"""

from __future__ import annotations

import random
import socket
import threading

LOW, HIGH = 20_000, 32_000  # below Linux's default ip_local_port_range (32768–60999)
_lock = threading.Lock()
_next = random.randrange(LOW, HIGH)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and that this process has not handed out before."""
    global _next
    with _lock:
        for _ in range(HIGH - LOW):
            port = _next
            _next = LOW + (_next + 1 - LOW) % (HIGH - LOW)
            if _bindable(port):
                return port
    raise RuntimeError(f"no free TCP port between {LOW} and {HIGH}")
