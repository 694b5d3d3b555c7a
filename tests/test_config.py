"""The configuration as an operator meets it: defaults, the TOML file, secrets from the environment, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_runs_on_embedded_defaults(tmp_path: Path) -> None:
    cfg = load_config(None, env={})
    assert cfg.mqtt.url == ""  # empty → the embedded broker
    assert cfg.store.kind == "sqlite"
    # The register lives in the data directory unless a URL is given.
    cfg = parse_config({"data_dir": str(tmp_path)}, env={})
    assert cfg.register_url == f"sqlite:///{(tmp_path / 'register.sqlite').resolve()}"


def test_file_is_read_from_path_and_from_hub_config_env(tmp_path: Path) -> None:
    path = write(
        tmp_path / "hub.toml",
        f'data_dir = "{tmp_path / "d"}"\n[mqtt]\nurl = "mqtt://broker.local:1884"\n[http]\nport = 9191\n',
    )
    for cfg in (load_config(path, env={}), load_config(None, env={"HUB_CONFIG": str(path)})):
        assert cfg.mqtt.url == "mqtt://broker.local:1884"
        assert cfg.http.port == 9191
        assert cfg.data_dir == tmp_path / "d"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "hub.toml", '[mqtt]\nurll = "mqtt://x:1883"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert "mqtt.urll" in str(err.value)
    assert str(path) in str(err.value)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "hub.toml", '[http]\nport = "eighty"\n')
    with pytest.raises(ConfigError, match=r"http\.port"):
        load_config(path, env={})


def test_influxdb_without_url_names_store_url() -> None:
    with pytest.raises(ConfigError, match=r"store\.url"):
        parse_config({"store": {"kind": "influxdb"}}, env={})


@pytest.mark.parametrize(
    ("section", "env_var"), [("store", "HUB_INFLUX_PASSWORD"), ("mqtt", "HUB_MQTT_PASSWORD")]
)
def test_password_in_file_is_refused_and_points_to_env(tmp_path: Path, section: str, env_var: str) -> None:
    path = write(tmp_path / "hub.toml", f'[{section}]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    message = str(err.value)
    assert f"{section}.password" in message
    assert env_var in message
    assert "hunter2" not in message


def test_secrets_from_env_are_used_but_never_shown() -> None:
    env = {"HUB_MQTT_PASSWORD": "mqtt-s3cret", "HUB_INFLUX_PASSWORD": "influx-s3cret"}
    cfg = parse_config({"store": {"kind": "influxdb", "url": "http://127.0.0.1:8086"}}, env=env)
    assert cfg.mqtt.password == "mqtt-s3cret"
    assert cfg.store.password == "influx-s3cret"
    shown = repr(cfg) + str(cfg) + cfg.model_dump_json()
    assert "mqtt-s3cret" not in shown
    assert "influx-s3cret" not in shown


def test_register_url_from_env_wins() -> None:
    cfg = parse_config({}, env={"HUB_REGISTER_URL": "postgresql+psycopg://hub@db/register"})
    assert cfg.register_url == "postgresql+psycopg://hub@db/register"


def test_invalid_timezone_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"timezone": "Asia/Chongqingg"}, env={})
    assert "timezone" in str(err.value)
    assert "Asia/Chongqingg" in str(err.value)


def test_bad_toml_syntax_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.toml", "[mqtt\nurl = \n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(path) in str(err.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=r"nowhere\.toml"):
        load_config(path, env={})


def test_unreadable_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    not_text = tmp_path / "binary.toml"
    not_text.write_bytes(b"\xff\xfe\x00garbage")
    for path in (tmp_path, not_text):  # a directory given by mistake; a file that is not UTF-8 text
        with pytest.raises(ConfigError) as err:
            load_config(path, env={})
        assert str(path) in str(err.value)


def test_cli_run_with_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", '[mqtt]\nurll = "mqtt://127.0.0.1:1"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    proc = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(path), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert "mqtt.urll" in proc.stderr


def test_cluster_defaults_and_a_renewal_too_slow_for_the_lease_is_named() -> None:
    cfg = parse_config({}, env={})
    assert (cfg.cluster.lease_s, cfg.cluster.renew_s, cfg.cluster.partitions) == (3.0, 1.0, 1)
    assert cfg.cluster.instance_name  # host name and process id when not set
    assert parse_config({"cluster": {"instance": "box-2"}}, env={}).cluster.instance_name == "box-2"
    with pytest.raises(ConfigError, match=r"cluster\.renew_s: must be at most a third of cluster\.lease_s"):
        parse_config({"cluster": {"lease_s": 3, "renew_s": 2}}, env={})
    with pytest.raises(ConfigError, match=r"cluster\.lease_s"):
        parse_config({"cluster": {"lease_s": 0.5}}, env={})


def test_the_domestic_providers_example_loads_and_a_missing_template_is_named(tmp_path: Path) -> None:
    example = (ROOT / "examples" / "alerts-cn.toml").read_text(encoding="utf-8")
    env = {"HUB_ALIYUN_ACCESS_KEY_SECRET": "s", "HUB_TENCENT_SECRET_KEY": "k"}
    cfg = load_config(write(tmp_path / "hub.toml", example), env=env)
    assert cfg.alerts.routes["sms"] == ["aliyun_sms", "tencent_sms", "gsm_sms"]
    assert cfg.alerts.aliyun.sms_enabled and cfg.alerts.tencent.voice_enabled
    assert "access_key_secret" not in repr(cfg.alerts.aliyun)  # the secret is never shown
    # A district that has not registered its all-clear template yet: the hub refuses, naming the kind.
    start = example.index("[alerts.tencent.sms_templates.resolved]")
    without = example[:start] + example[example.index("\n\n", start) :]
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "hub.toml", without), env=env)
    assert "alerts.tencent" in str(err.value) and "resolved" in str(err.value)


def test_watch_section_is_typed_and_its_idle_timeout_is_keepalives() -> None:
    cfg = parse_config(
        {"watch": {"enabled": True, "port": 5093, "keepalive_s": 60, "idle_keepalives": 3}}, env={}
    )
    assert cfg.watch.enabled and cfg.watch.idle_timeout_s == 180
    with pytest.raises(ConfigError, match=r"watch\.idle_keepalives"):
        parse_config({"watch": {"idle_keepalives": 1}}, env={})  # one missed keep-alive is no dead link
    with pytest.raises(ConfigError, match=r"watch\.port"):
        parse_config({"watch": {"port": 70000}}, env={})


def test_a_list_of_brokers_and_the_protocol_version_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "hub.toml",
        '[mqtt]\nurls = ["mqtt://nats-1:1883", "mqtt://nats-2:1883", "mqtts://nats-3:8883"]\nprotocol = "3.1.1"\n',
    )
    cfg = load_config(path, env={})
    assert cfg.mqtt.broker_urls == ["mqtt://nats-1:1883", "mqtt://nats-2:1883", "mqtts://nats-3:8883"]
    assert cfg.mqtt.protocol == "3.1.1"
    # `url` is a list of one; MQTT 5 unless told otherwise; neither → the embedded broker.
    one = parse_config({"mqtt": {"url": "mqtt://broker.local:1883"}}, env={})
    assert (one.mqtt.broker_urls, one.mqtt.protocol) == (["mqtt://broker.local:1883"], "5")
    assert parse_config({}, env={}).mqtt.broker_urls == []


@pytest.mark.parametrize(
    ("mqtt", "key", "says"),
    [
        ({"urls": ["mqtt://a:1883", "http://b"]}, "mqtt.urls", "entry 2: must look like mqtt://host:1883"),
        (
            {"urls": ["mqtt://a:1883", "mqtt://a:1883"]},
            "mqtt.urls",
            "entry 2: 'mqtt://a:1883' is listed twice",
        ),
        ({"urls": "mqtt://a:1883"}, "mqtt.urls", "valid list"),
        ({"url": "mqtt://a:1883", "urls": ["mqtt://b:1883"]}, "mqtt", "either url (one broker) or urls"),
        ({"protocol": "3"}, "mqtt.protocol", "'5' or '3.1.1'"),
    ],
)
def test_a_bad_broker_list_or_protocol_is_named(mqtt: dict[str, object], key: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"mqtt": mqtt}, "hub.toml", env={})
    assert f"hub.toml: {key}: " in str(err.value)
    assert says in str(err.value)


def test_partitions_and_a_preferred_partition_outside_them_is_named() -> None:
    cfg = parse_config({"cluster": {"partitions": 4, "prefer": [2, 3]}}, env={})
    assert (cfg.cluster.partitions, cfg.cluster.prefer) == (4, [2, 3])
    with pytest.raises(ConfigError, match=r"cluster\.prefer: partitions are numbered 0…3"):
        parse_config({"cluster": {"partitions": 4, "prefer": [4]}}, env={})
    with pytest.raises(ConfigError, match=r"cluster\.partitions"):
        parse_config({"cluster": {"partitions": 0}}, env={})
