"""The `eldercare-hub` command line, run as the operator runs it: a child process on a TOML config."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.site_fixture import SITE_YAML

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SITE = ROOT / "examples" / "site.yaml"


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m hub.cli --config CONFIG ARGS…` to completion; the caller checks the exit code."""
    # HUB_* variables of the developer's shell (a register URL, HUB_CONFIG) must not leak into the test.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose register is a fresh SQLite file in tmp_path."""
    path = tmp_path / "hub.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return path


@pytest.fixture
def loaded(config: Path, tmp_path: Path) -> Path:
    """The config, with the test site (H001, H002) loaded into its register."""
    site = tmp_path / "site.yaml"
    site.write_text(SITE_YAML, encoding="utf-8")
    proc = run_cli(config, "load", str(site))
    assert proc.returncode == 0, proc.stderr
    return config


def _created(summary: str) -> list[int]:
    return [int(n) for n in re.findall(r"新增 (\d+)", summary)]


def test_load_example_site_twice_creates_nothing_the_second_time(config: Path) -> None:
    first = run_cli(config, "load", str(EXAMPLE_SITE))
    assert first.returncode == 0, first.stderr
    created = _created(first.stdout)
    assert len(created) == 4  # homes, elders, contacts, devices
    assert all(n > 0 for n in created), first.stdout

    second = run_cli(config, "load", str(EXAMPLE_SITE))
    assert second.returncode == 0, second.stderr
    assert _created(second.stdout) == [0, 0, 0, 0], second.stdout
    assert "更新 0" in second.stdout
    assert re.findall(r"未变 (\d+)", second.stdout) == [str(n) for n in created]


@pytest.mark.parametrize(
    ("good", "bad", "entry", "field"),
    [
        # Unquoted, YAML reads the phone number as an integer.
        ('phone: "13800000002"', "phone: 13800000002", "homes[1].elders[0]", "phone"),
        # A model the hub cannot decode.
        ("model: RTCGQ11LM", "model: NO_SUCH_MODEL", "homes[0].devices[1]", "model"),
    ],
)
def test_bad_site_file_exits_1_naming_entry_and_field(
    config: Path, tmp_path: Path, good: str, bad: str, entry: str, field: str
) -> None:
    assert good in SITE_YAML
    site = tmp_path / "bad.yaml"
    site.write_text(SITE_YAML.replace(good, bad), encoding="utf-8")
    proc = run_cli(config, "load", str(site))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(site) in proc.stderr
    assert entry in proc.stderr
    assert f"field '{field}'" in proc.stderr
    # Nothing of a bad file is applied: its devices are not in the register.
    token = run_cli(config, "device-token", "H001-sos")
    assert token.returncode == 1, token.stdout


def test_alerts_list_json_on_empty_register_is_an_empty_list(config: Path) -> None:
    proc = run_cli(config, "alerts", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    plain = run_cli(config, "alerts", "list")
    assert plain.returncode == 0, plain.stderr
    assert "没有告警" in plain.stdout


def test_quarantine_list_has_chinese_header_and_json_list(config: Path) -> None:
    proc = run_cli(config, "quarantine", "list")
    assert proc.returncode == 0, proc.stderr
    assert "隔离消息共 0 条" in proc.stdout
    as_json = run_cli(config, "quarantine", "list", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == []


def test_device_token_is_new_each_time(loaded: Path) -> None:
    first = run_cli(loaded, "device-token", "H001-sos")
    second = run_cli(loaded, "device-token", "H001-sos")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    tokens = [first.stdout.strip(), second.stdout.strip()]
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", token), token
    assert tokens[0] != tokens[1]


def test_device_token_for_unknown_device_exits_1_with_message(loaded: Path) -> None:
    proc = run_cli(loaded, "device-token", "H999-nothing")
    assert proc.returncode == 1
    assert proc.stdout == ""  # no token printed
    assert "H999-nothing" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("host", "told"),
    [("127.0.0.1", ["已被占用", "http.port"]), ("192.0.2.1", ["无法", "http.host"])],  # TEST-NET: not ours
)
def test_run_that_cannot_listen_says_where_in_one_line_and_exits_1(
    tmp_path: Path, host: str, told: list[str]
) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        config = tmp_path / "hub.toml"
        config.write_text(
            f'data_dir = "{tmp_path / "data"}"\n[http]\nhost = "{host}"\nport = {port}\n'
            '[mqtt]\nurl = "mqtt://127.0.0.1:1"\n',
            encoding="utf-8",
        )
        proc = run_cli(config, "run")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if f"{host}:{port}" in line]
    assert len(lines) == 1 and all(word in lines[0] for word in told), proc.stderr


def test_quarantine_list_pages_with_before(config: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from hub.ingest.register_writer import RegisterWriter
    from hub.models import RawMessage
    from hub.register.db import make_engine, migrate, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'register.sqlite'}")
    migrate(engine)
    at = datetime(2026, 11, 28, tzinfo=UTC)
    messages = [
        (RawMessage("mqtt", f"zigbee2mqtt/x{i}", b"?" * (i + 1) * 40_000, at), "测试") for i in range(3)
    ]
    RegisterWriter(session_factory(engine)).commit(messages, [], {}, at)
    engine.dispose()
    first = run_cli(config, "quarantine", "list", "--limit", "2")
    assert first.returncode == 0, first.stderr
    assert "隔离消息共 3 条（本页 2 条" in first.stdout and "120000 字节，仅保留开头" in first.stdout
    assert "zigbee2mqtt/x2" in first.stdout and "zigbee2mqtt/x0" not in first.stdout
    [before] = re.findall(r"quarantine list --before (\d+)", first.stdout)
    rest = run_cli(config, "quarantine", "list", "--json", "--before", before)
    assert [r["topic"] for r in json.loads(rest.stdout)] == ["zigbee2mqtt/x0"]


def test_device_credentials_never_print_a_made_up_host(loaded: Path, tmp_path: Path) -> None:
    proc = run_cli(loaded, "device-credentials", "H001-water")
    assert proc.returncode == 0, proc.stderr
    assert "example.org" not in proc.stdout
    assert "未设置" in proc.stdout and "MqttHost <平台地址>" in proc.stdout
    # With the hub's public address configured, devices are told that host.
    loaded.write_text(
        loaded.read_text(encoding="utf-8") + '[alerts]\npublic_url = "https://hub.yubei.example.cn/"\n',
        encoding="utf-8",
    )
    sheet = json.loads(run_cli(loaded, "device-credentials", "H002-sos", "--json").stdout)
    assert sheet["host"] == "hub.yubei.example.cn"


def test_partitions_list_on_a_single_process_register_and_move_needs_postgresql(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[cluster]\npartitions = 2\n', encoding="utf-8")
    site = tmp_path / "site.yaml"
    site.write_text(SITE_YAML, encoding="utf-8")
    assert run_cli(path, "load", str(site)).returncode == 0
    listed = run_cli(path, "partitions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    assert [p["partition"] for p in body["partitions"]] == [0, 1]
    assert all(p["owner"] == "" and not p["held"] for p in body["partitions"])
    assert sum(p["homes"] for p in body["partitions"]) >= 1
    table = run_cli(path, "partitions", "list")
    assert table.returncode == 0 and table.stdout.splitlines()[1].startswith("1\t")  # piped: tab-separated
    moved = run_cli(path, "partitions", "move", "1", "--to", "hub-b")
    assert moved.returncode != 0 and "PostgreSQL" in moved.stderr
    wrong = run_cli(path, "partitions", "release", "2")
    assert wrong.returncode != 0 and "0…1" in wrong.stderr
