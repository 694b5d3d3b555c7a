"""Running the real hub as a child process (for the kill test, the demo test and the benchmarks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml


def write_config(
    path: Path,
    *,
    data_dir: Path,
    broker_url: str | list[str],
    http_port: int,
    client_id: str,
    store: dict[str, Any] | None = None,
    extra: str = "",
    protocol: str = "5",
) -> Path:
    """A TOML config for a hub on a real broker (or on a list of them: the nodes of a cluster); `extra`: more
    TOML sections, appended as they are."""
    store = store or {"kind": "sqlite"}
    brokers = f'url = "{broker_url}"' if isinstance(broker_url, str) else f"urls = {json.dumps(broker_url)}"
    store_lines = "\n".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in store.items())
    path.write_text(
        f'data_dir = "{data_dir}"\n'
        f'[mqtt]\n{brokers}\nprotocol = "{protocol}"\nclient_id = "{client_id}"\n'
        f'[http]\nhost = "127.0.0.1"\nport = {http_port}\n'
        f"[store]\n{store_lines}\n{extra}",
        encoding="utf-8",
    )
    return path


def visitor_phone(i: int) -> str:
    """The designated visitor's mobile number of home `i` in `sos_site`."""
    return f"139{i:08d}"


def sos_site(homes: int) -> str:
    """A site of `homes` homes, each with an elder (a visitor and a son to call), an SOS button, a motion
    sensor and a water meter, as YAML."""
    site = {
        "homes": [
            {
                "code": f"H{i:04d}",
                "address": f"渝北区测试路{i}号",
                "district": "渝北区",
                "street": "双龙湖街道",
                "community": "紫薇社区",
                "elders": [
                    {
                        "code": f"E{i:04d}",
                        "name": f"测试老人{i}",
                        "tier": "key" if i % 3 == 0 else "general",
                        "categories": ["独居"],
                        "contacts": [
                            {"name": f"探访员{i}", "role": "visitor", "phone": visitor_phone(i)},
                            {
                                "name": f"儿子{i}",
                                "role": "relative",
                                "relation": "儿子",
                                "phone": f"138{i:08d}",
                            },
                        ],
                    }
                ],
                "devices": [
                    {
                        "code": f"H{i:04d}-sos",
                        "ecosystem": "zigbee2mqtt",
                        "external_id": f"h{i:04d}_sos",
                        "model": "TS0215A_sos",
                    },
                    {
                        "code": f"H{i:04d}-motion",
                        "ecosystem": "zigbee2mqtt",
                        "external_id": f"h{i:04d}_motion",
                        "model": "RTCGQ11LM",
                    },
                    {
                        "code": f"H{i:04d}-water",
                        "ecosystem": "tasmota",
                        "external_id": f"h{i:04d}_water",
                        "model": "pulse_counter",
                        "settings": {"litres_per_pulse": 1.0},
                    },
                ],
            }
            for i in range(homes)
        ]
    }
    return yaml.safe_dump(site, allow_unicode=True, sort_keys=False)


def cli(config: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    """Run `eldercare-hub --config CONFIG ARGS…` to completion and return its stdout (`env` is added to
    this process's environment)."""
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(config), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return out.stdout


class HubProcess:
    """`eldercare-hub run` in a child process."""

    def __init__(self, config: Path, http_port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = env or {}  # added to this process's environment (secrets such as HUB_TWILIO_AUTH_TOKEN)
        self.http_port = http_port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        # An admin API token, made on the first API call (the API needs a user); hubs on one register may share it.
        self.token = ""

    def start(self) -> None:
        """Start the hub; returns at once."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "--config", str(self.config), "run"],
                stdout=log,
                stderr=log,
                env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
            )

    def healthz(self) -> tuple[int, dict[str, Any]] | None:
        """The /healthz status and body, or None if the hub does not answer. A 503 (some check failing, or a
        standby) still carries the body with every check, so it is read like a 200."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return r.status, dict(json.load(r))
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, dict(json.load(exc))
            except ValueError:
                return None
        except (OSError, ValueError):
            return None

    def health(self) -> dict[str, Any] | None:
        """The /healthz body, whatever its status, or None if the hub does not answer."""
        answer = self.healthz()
        return None if answer is None else answer[1]

    def health_pending(self) -> int:
        """Messages the hub has accepted but not yet made durable (-1 when it does not answer)."""
        health = self.health()
        return -1 if health is None else int(health.get("pending", -1))

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the hub answers /healthz 200 (every check passing) with an MQTT connection up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"hub exited with {self.proc.returncode}; log: {self.log.read_text()[-3000:]}"
                )
            answer = self.healthz()
            if answer is not None and answer[0] == 200 and answer[1].get("mqtt_connected"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"hub not ready after {timeout}s; log: {self.log.read_text()[-3000:]}")

    def role(self) -> str | None:
        """ "active" or "standby" as /healthz says, or None if the hub does not answer."""
        health = self.health()
        return None if health is None else str(health.get("role"))

    def wait_role(self, role: str, timeout: float = 60) -> float:
        """Until /healthz says `role`; the seconds it took."""
        start = time.monotonic()
        while time.monotonic() < start + timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"hub exited with {self.proc.returncode}; log: {self.log.read_text()[-3000:]}"
                )
            if self.role() == role:
                return time.monotonic() - start
            time.sleep(0.05)
        raise RuntimeError(f"hub not {role} after {timeout}s; log: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or disconnect cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str) -> Any:
        """GET a JSON path of the hub's HTTP API (as an admin API client)."""
        headers = {}
        if path.startswith("/api/"):
            if not self.token:
                cli(
                    self.config,
                    "user",
                    "add",
                    "hubproc-admin",
                    "--role",
                    "admin",
                    "--no-password",
                    env=self.env,
                )
                self.token = cli(self.config, "user", "token", "hubproc-admin", env=self.env).strip()
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.load(r)
