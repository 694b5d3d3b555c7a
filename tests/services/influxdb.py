"""A private, real InfluxDB 1.x (Debian's `influxd`) for the test session.

It gets its own config, data/meta/wal folders and free ports on 127.0.0.1, with reporting and every
listener but HTTP turned off. `influxdb` hands a test the server object so that it can `.stop()` and
`.start()` it (same port, same data) to stage an outage; it is running again after every test.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = ROOT / "scripts" / "influxdb.sh"


def influxd_binary() -> str:
    """The path of `influxd`, installing Debian's package through scripts/influxdb.sh when it is missing."""
    found = shutil.which("influxd")
    if found is None:
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True)
        found = shutil.which("influxd")
    if found is None:
        raise RuntimeError(f"influxd is still missing after running {INSTALL_SCRIPT}")
    return found


class InfluxServer:
    """One influxd process with a fixed port and data folder that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.rpc_port = free_port()
        self.binary = influxd_binary()
        self.config = workdir / "influxdb.conf"
        self.log = workdir / "influxd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        w = self.workdir
        self.config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = "{w / "meta"}"

[data]
  dir = "{w / "data"}"
  wal-dir = "{w / "wal"}"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
"""
        )

    def _ping(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1.0) as resp:
                return bool(resp.status == 204)
        except (urllib.error.URLError, OSError):
            return False

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start influxd (no-op when running) and wait until /ping answers 204."""
        if self.running:
            return
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.binary, "-config", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"influxd exited with {self._proc.returncode}; see {self.log}")
            if self._ping():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"influxd did not answer /ping within {timeout}s; see {self.log}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop influxd (SIGTERM, then SIGKILL after `timeout`) and wait until it has exited."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def influxdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """The session's influxd, started once and stopped at the end."""
    server = InfluxServer(tmp_path_factory.mktemp("influxdb"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def influxdb_url(influxdb_server: InfluxServer) -> str:
    """Base URL of the session's influxd, e.g. "http://127.0.0.1:45123"."""
    return influxdb_server.url


@pytest.fixture
def influxdb(influxdb_server: InfluxServer) -> Iterator[InfluxServer]:
    """The session's influxd for a test that stops and starts it; it is running again afterwards."""
    influxdb_server.start()
    try:
        yield influxdb_server
    finally:
        influxdb_server.start()
