"""The hub's log, read as an operator reads it: routine events are quiet, every failure is there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.hubproc import HubProcess, write_config
from tests.services.mosquitto import free_port, start_mosquitto


def _wait_for(log: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, f"{text!r} not logged; log:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_lost_broker_is_logged_and_a_normal_stop_cries_no_wolf(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "mosquitto")
    port = free_port()
    config = write_config(
        tmp_path / "hub.toml",
        data_dir=tmp_path / "data",
        broker_url=broker.url,
        http_port=port,
        client_id="hub-log-test",
    )
    log = tmp_path / "hub.log"
    hub = HubProcess(config, port, log)
    hub.start()
    try:
        hub.wait_ready()
        broker.process.terminate()  # a real failure: the operator must read about it
        broker.process.wait(10)
        _wait_for(log, "MQTT connection lost")
        broker = start_mosquitto(tmp_path / "mosquitto", port=broker.port)
        hub.wait_ready()
        _wait_for(log, "MQTT connected", timeout=5)
        before_stop = len(log.read_text(encoding="utf-8"))
        hub.stop()  # SIGTERM, as systemd stops it
        assert hub.proc is not None and hub.proc.returncode == 0
    finally:
        hub.kill()
        broker.process.terminate()
        broker.process.wait(10)
    text = log.read_text(encoding="utf-8")
    stopping = text[before_stop:]
    assert "connection lost" not in stopping and "reconnecting" not in stopping, stopping
    assert "WARNING" not in stopping and "ERROR" not in stopping, stopping
    # The job scheduler's routine (jobs added, started, each run) stays out of an INFO log.
    assert " INFO apscheduler" not in text, text
