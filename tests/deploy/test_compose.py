"""deploy/docker-compose.yml validates with Debian's docker-compose (`config` needs no Docker engine)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services.mosquitto import ROOT

COMPOSE = ROOT / "deploy" / "docker-compose.yml"
SECRETS = {
    "HUB_MQTT_PASSWORD": "m" * 24,
    "HUB_INFLUX_PASSWORD": "i" * 24,
    "INFLUX_ADMIN_PASSWORD": "a" * 24,
    "POSTGRES_PASSWORD": "p" * 24,
}


def _docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "compose"], check=True)
        found = shutil.which("docker-compose")
    assert found is not None, "docker-compose is missing after scripts/services.sh compose"
    return found


def _config(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # A project directory without a .env file, so only `env` supplies the secrets.
    argv = [_docker_compose(), "--project-directory", str(tmp_path), "-f", str(COMPOSE), "config"]
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(argv, capture_output=True, text=True, env={**clean, **env}, timeout=120)


@pytest.fixture
def resolved(tmp_path: Path) -> dict[str, Any]:
    run = _config(SECRETS, tmp_path)
    assert run.returncode == 0, run.stderr
    return dict(yaml.safe_load(run.stdout))


def test_the_compose_file_is_valid_and_runs_the_four_services(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {"mosquitto", "influxdb", "postgres", "hub"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("volumes"), f"{name} keeps no data in a volume"
    assert services["hub"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    # The secrets reach the hub through its environment, not through a file in the image.
    assert services["hub"]["environment"]["HUB_MQTT_PASSWORD"] == SECRETS["HUB_MQTT_PASSWORD"]
    assert SECRETS["POSTGRES_PASSWORD"] in services["hub"]["environment"]["HUB_REGISTER_URL"]


def test_a_missing_secret_stops_compose(tmp_path: Path) -> None:
    without = {k: v for k, v in SECRETS.items() if k != "POSTGRES_PASSWORD"}
    run = _config(without, tmp_path)
    assert run.returncode != 0
    assert "POSTGRES_PASSWORD" in run.stderr
