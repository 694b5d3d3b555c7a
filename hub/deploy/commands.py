"""`eldercare-hub` sub-commands contributed by hub.deploy.

- ``broker-config --out DIR``: Mosquitto configuration from the register (see `hub.deploy.broker_config`);
- ``device-credentials DEVICE_CODE``: a broker password for the device (or its bridge), printed once;
- ``backup DIR`` / ``restore DIR``: the register and the time series (see `hub.deploy.backup`);
- ``partitions list [--json]``, ``partitions move N --to INSTANCE``, ``partitions release N``: the partitions
  of a cluster of hub instances (see `hub.deploy.partitions`, docs/scaling.md §5).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from hub.cli_support import EXIT_OK, config_of, open_sessions, print_json, print_table
from hub.clock import SystemClock
from hub.cluster import RELEASED
from hub.config import Config
from hub.deploy import backup as bk
from hub.deploy.broker_config import QUEUES_CONF, read_queues_conf, render_broker_files, write_broker_files
from hub.deploy.credentials import issue_credentials, stored_hashes
from hub.deploy.errors import DeployError
from hub.deploy.partitions import describe
from hub.deploy.passwords import hash_password
from hub.deploy.principals import hub_principal, register_principals
from hub.deploy.settings import BrokerSettings
from hub.register.errors import RegisterError
from hub.register.lease import assign, live_instances, partition_rows


def cmd_broker_config(args: argparse.Namespace) -> int:
    """Write mosquitto.conf, passwd, acl and conf.d/hub-queues.conf for the register's devices."""
    from hub.devices.canary import canary_topic
    from hub.devices.registry import DeviceRegistry

    config = config_of(args)
    if not config.mqtt.password:
        raise DeployError("HUB_MQTT_PASSWORD is not set: the hub's broker user needs a password")
    hub = hub_principal(
        config.mqtt.username,
        config.mqtt.subscriptions or DeviceRegistry.default().subscriptions(),
        canary=canary_topic(config.mqtt.client_id) if config.health.canary_enabled else "",
    )
    with open_sessions(config)() as session:
        principals = register_principals(session)
        hashes = stored_hashes(session)
    out = Path(args.out).resolve()
    files = render_broker_files(
        principals,
        hub,
        hash_password(config.mqtt.password),
        hashes,
        config.broker,
        args.config_dir or str(out),
        SystemClock().now(),
        read_queues_conf(Path(args.queues_conf)),
    )
    for path in write_broker_files(files, out, args.group or None):
        print(f"写入 {path}")
    print(f"broker 用户 {len(files.users)} 个（含平台 {hub.username}）")
    for p in files.waiting:
        print(f"待发放凭据（暂不能连接）: {p.username} — eldercare-hub device-credentials {p.devices[0]}")
    print("让 Mosquitto 重新加载: kill -HUP <mosquitto pid>（或 systemctl reload mosquitto）")
    return EXIT_OK


def broker_as_devices_see_it(config: Config) -> BrokerSettings:
    """`config.broker`, its host defaulting to the host of ``alerts.public_url`` (the hub's public name)."""
    if config.broker.host or not config.alerts.public_url:
        return config.broker
    return config.broker.model_copy(update={"host": urlsplit(config.alerts.public_url).hostname or ""})


def cmd_device_credentials(args: argparse.Namespace) -> int:
    """Issue a broker password for a device (or its bridge) and print what the installer types in."""
    config = config_of(args)
    with open_sessions(config).begin() as session:
        sheet = issue_credentials(
            session, args.device, broker_as_devices_see_it(config), SystemClock(), rotate=args.rotate
        )
    if args.json:
        print_json(sheet.as_dict())
    else:
        print(sheet.render())
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up the register and the time series into a new folder."""
    config = config_of(args)
    dest = Path(args.dir)
    if dest.exists() and any(dest.iterdir()):
        raise DeployError(f"backup folder {dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    register = bk.backup_register(config.register_url, dest)
    if config.store.kind == "influxdb":
        timeseries = bk.backup_influxdb(args.influx_rpc, config.store.database, dest)
    else:
        bk.copy_sqlite(config.data_dir / "timeseries.sqlite", dest / bk.SQLITE_TIMESERIES)
        timeseries = {"kind": "sqlite", "file": bk.SQLITE_TIMESERIES}
    bk.write_manifest(dest, SystemClock().now(), register, timeseries)
    print(f"备份完成: {dest}（登记库 {register['kind']}，时序 {timeseries['kind']}）")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup into empty databases (the configured register and time series)."""
    config = config_of(args)
    src = Path(args.dir)
    manifest = bk.read_manifest(src)
    bk.restore_register(src, config.register_url)
    timeseries = manifest["timeseries"]
    if timeseries["kind"] == "influxdb":
        bk.restore_influxdb(src, args.influx_rpc, config.store.database)
    else:
        target = config.data_dir / "timeseries.sqlite"
        if target.exists():
            raise DeployError(f"time-series file {target} already exists; restore into an empty data_dir")
        target.parent.mkdir(parents=True, exist_ok=True)
        bk.copy_sqlite(src / timeseries["file"], target)
    print(f"恢复完成: 来自 {src}（{manifest['created_at']}）")
    return EXIT_OK


def _partition(count: int, value: int) -> int:
    if not 0 <= value < count:
        raise SystemExit(f"分区编号应为 0…{count - 1}（cluster.partitions = {count}），收到 {value}")
    return value


def _needs_cluster(register_url: str) -> None:
    if not register_url.startswith("postgresql"):
        raise RegisterError("分区需要 PostgreSQL 登记库 (partitions need a PostgreSQL register)")


def _partitions_list(args: argparse.Namespace) -> int:
    config = config_of(args)
    with open_sessions(config)() as session:
        rows = partition_rows(session, config.cluster.partitions)
        live = live_instances(session) if config.register_url.startswith("postgresql") else []
    if args.json:
        print_json({"partitions": [describe(r) for r in rows], "instances": live}, indent=1)
        return EXIT_OK
    print_table(
        ("分区", "主用实例", "epoch", "租约剩余", "指定给", "户数"),
        (
            (
                r.partition,
                r.owner if r.held else f"（无；上一任 {r.owner}）" if r.owner else "（无）",
                r.epoch,
                "-" if r.remaining_s is None or not r.held else f"{r.remaining_s:.1f} 秒",
                "交出中" if r.move_to == RELEASED else (r.move_to or "-"),
                r.homes,
            )
            for r in rows
        ),
    )
    print(f"在线实例: {', '.join(live) or '（无）'}")
    return EXIT_OK


def _partitions_move(args: argparse.Namespace) -> int:
    config = config_of(args)
    partition = _partition(config.cluster.partitions, args.partition)
    _needs_cluster(config.register_url)
    with open_sessions(config).begin() as session:
        live = live_instances(session)
        assign(session, partition, args.to)
    print(f"分区 {partition} 指定给 {args.to}：当前主用实例写完最后一批后交出，{args.to} 接管")
    if args.to not in live:
        print(f"注意：实例 {args.to} 当前不在线，它上线前分区仍按常规分配 (not live: the assignment waits)")
    return EXIT_OK


def _partitions_release(args: argparse.Namespace) -> int:
    config = config_of(args)
    partition = _partition(config.cluster.partitions, args.partition)
    _needs_cluster(config.register_url)
    with open_sessions(config).begin() as session:
        assign(session, partition, RELEASED)
    print(f"分区 {partition}：当前主用实例写完最后一批后交出，由其他在线实例接管")
    return EXIT_OK


def _add_partitions(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``partitions`` sub-commands."""
    p = sub.add_parser("partitions", help="partitions of a cluster of hub instances (分区)")
    p_sub = p.add_subparsers(dest="partitions_cmd", required=True)
    pl = p_sub.add_parser("list", help="each partition's owner, epoch, lease and homes")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=_partitions_list)
    pm = p_sub.add_parser("move", help="hand partition N over to INSTANCE (after its last durable batch)")
    pm.add_argument("partition", type=int)
    pm.add_argument("--to", required=True, help="the instance name (cluster.instance) to take it")
    pm.set_defaults(func=_partitions_move)
    pr = p_sub.add_parser("release", help="the owner gives partition N up; another live instance takes it")
    pr.add_argument("partition", type=int)
    pr.set_defaults(func=_partitions_release)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's sub-commands to the CLI (each sets ``func`` to a handler returning an exit code)."""
    _add_partitions(sub)
    p = sub.add_parser("broker-config", help="generate the Mosquitto configuration from the register")
    p.add_argument("--out", required=True, help="folder to write mosquitto.conf, passwd, acl, conf.d/ into")
    p.add_argument("--config-dir", default="", help="where the broker will find these files (default: --out)")
    p.add_argument("--group", default="", help="group to own the files (the broker's, e.g. mosquitto)")
    p.add_argument("--queues-conf", default=str(QUEUES_CONF), help="the hub's queue limits file to include")
    p.set_defaults(func=cmd_broker_config)

    p = sub.add_parser("device-credentials", help="issue broker credentials for a device (printed once)")
    p.add_argument("device", help="device code")
    p.add_argument("--rotate", action="store_true", help="replace an existing password")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_device_credentials)

    for name, fn, help_ in (
        ("backup", cmd_backup, "back up the register and the time series into a new folder"),
        ("restore", cmd_restore, "restore a backup into empty databases"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("dir")
        p.add_argument("--influx-rpc", default="127.0.0.1:8088", help="InfluxDB backup/restore RPC address")
        p.set_defaults(func=fn)
