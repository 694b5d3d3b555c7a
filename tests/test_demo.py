"""`eldercare-hub demo` — what a new user runs first — shows an SOS alert within a minute, and a location."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.services.mosquitto import free_port


def _get(port: int, path: str) -> bytes | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return bytes(r.read())
    except OSError:
        return None


@pytest.mark.slow
def test_demo_shows_an_sos_alert_within_a_minute(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "demo"),
            "--homes",
            "5",
            "--duration",
            "90",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        sos: list[dict[str, object]] = []
        while time.monotonic() - started < 60 and demo.poll() is None:
            body = _get(port, "/api/v1/alerts")
            sos = [a for a in json.loads(body) if a["kind"] == "sos"] if body else []
            if sos:
                break
            time.sleep(1)
        assert sos, f"no SOS alert within 60 s; log:\n{(tmp_path / 'demo.log').read_text()[-3000:]}"
        page = _get(port, "/")
        assert page is not None and "居家独居老人智能监护平台" in page.decode()
        homes = json.loads(_get(port, "/api/v1/homes") or b"[]")
        assert len(homes) == 5 and any(h["latest"] for h in homes)  # the simulated homes report readings
        # The first elder wears a simulated 4G watch: the elder page shows where she is, inside her safe zone.
        elder = json.loads(_get(port, "/api/v1/elders/E001") or b"{}")
        location, zone = elder["location"], elder["safe_zone"]
        assert location is not None and location["device"] == "H001-watch", elder
        assert abs(location["lat"] - zone["lat"]) < 0.01 and abs(location["lon"] - zone["lon"]) < 0.01
        quarantine = json.loads(_get(port, "/api/v1/quarantine") or b"[]")
        assert quarantine == [], f"the simulator's real-format traffic was quarantined: {quarantine[:3]}"
    finally:
        demo.terminate()
        demo.wait(30)
    assert "http://127.0.0.1" in (tmp_path / "demo.log").read_text()


def test_demo_with_its_port_taken_serves_on_a_free_one_and_says_which(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        demo = subprocess.run(
            [
                *(sys.executable, "-m", "hub.cli", "demo", "--port", str(port), "--homes", "1"),
                *("--data-dir", str(tmp_path / "demo"), "--duration", "3"),
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    out = demo.stdout + demo.stderr
    assert demo.returncode == 0 and "Traceback" not in out, out
    moved = [line for line in out.splitlines() if f"127.0.0.1:{port}" in line]
    assert len(moved) == 1 and "已被占用" in moved[0] and "--port" in moved[0], out
    (url,) = re.findall(r"请在浏览器打开 (http://127\.0\.0\.1:\d+)", out)
    assert url != f"http://127.0.0.1:{port}" and url.split(":")[-1] in moved[0]
    # The banner names the config through which the command line sees the demo's data; it does.
    (config,) = re.findall(r"eldercare-hub --config (\S+) alerts list", out)
    listed = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", config, "elders", "list"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert listed.returncode == 0 and "E001" in listed.stdout, listed.stdout + listed.stderr
