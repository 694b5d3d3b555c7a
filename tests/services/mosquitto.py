"""A private, real Mosquitto broker for the test session (its own port, config and persistence dir)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
QUEUE_CONF = ROOT / "deploy" / "mosquitto" / "hub-queues.conf"


def wait_port(port: int, timeout: float = 15.0) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class Broker:
    """A running Mosquitto: where to reach it and how to stop it."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """The broker URL in the form the hub's config takes."""
        return f"mqtt://{self.host}:{self.port}"


def start_mosquitto(workdir: Path, port: int | None = None, *, persistence: bool = False) -> Broker:
    """Start Mosquitto in the foreground of a child process with the hub's queue limits.

    With `persistence`, sessions and queued messages are saved in `workdir` when the broker stops (as a
    production broker is set up), so a broker restarted on the same `port` and `workdir` still has them.
    """
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "mosquitto"], check=True)
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        + (f"persistence true\npersistence_location {workdir}/\n" if persistence else "persistence false\n")
        # As root Mosquitto drops to its own user, which may not write the test's folder.
        + ("user root\n" if persistence and os.geteuid() == 0 else "")
        + "log_dest stderr\n"
        "log_type error\n"
        "log_type warning\n"
        f"include_dir {workdir / 'conf.d'}\n"
    )
    (workdir / "conf.d").mkdir(exist_ok=True)
    shutil.copy(QUEUE_CONF, workdir / "conf.d" / "hub-queues.conf")
    log = (workdir / "mosquitto.log").open("ab")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
    try:
        wait_port(port)
    except RuntimeError:
        proc.kill()
        raise
    return Broker("127.0.0.1", port, proc)


def _running_broker(workdir: Path) -> Iterator[Broker]:
    broker = start_mosquitto(workdir)
    yield broker
    broker.process.terminate()
    broker.process.wait(10)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real Mosquitto broker for the whole test session."""
    yield from _running_broker(tmp_path_factory.mktemp("mosquitto"))


@pytest.fixture(scope="module")
def quiet_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A real Mosquitto of the test module's own, with no retained messages left by other tests."""
    yield from _running_broker(tmp_path_factory.mktemp("mosquitto-module"))
