"""The `eldercare-hub` command line: assembles the parser from every package's commands and runs one.

The hub's own few commands (run, load, device-token, quarantine, simulate, demo) are here; each package adds
its sub-commands through its `commands.add_commands` (alerts, care, deploy, rules, web), and what they all
share (config, register sessions, output, exit codes) is in `hub.cli_support`, which never imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hub import native
from hub.alerts import commands as alerts_commands
from hub.care import commands as care_commands
from hub.cli_support import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, config_of, open_sessions, print_json
from hub.config import ConfigError
from hub.deploy import commands as deploy_commands
from hub.errors import HubError
from hub.rules import commands as rules_commands
from hub.runtime import run
from hub.web import commands as web_commands

LOGGER = logging.getLogger("hub")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # amqtt and gmqtt are chatty at INFO, APScheduler logs every job it adds and runs, and Twilio's client
    # a block of lines for each request it sends: a log that reports routine hides the failures. Their
    # warnings and errors (a job that raised, a missed run) show.
    for noisy in ("amqtt", "transitions", "gmqtt", "alembic", "apscheduler", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the hub."""
    from hub.app import run_hub

    config = config_of(args)
    with contextlib.suppress(KeyboardInterrupt):
        run(run_hub(config))
    return EXIT_OK


def cmd_load(args: argparse.Namespace) -> int:
    """Load a site description (homes, elders, contacts, devices) idempotently."""
    from hub.devices.registry import DeviceRegistry
    from hub.register.site import load_site

    config = config_of(args)
    sessions = open_sessions(config)
    with sessions.begin() as session:
        report = load_site(session, Path(args.file), devices=DeviceRegistry.default())
    print(report.summary())
    return EXIT_OK


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    """List quarantined messages with their reasons."""
    from hub.ingest.quarantine import MAX_PAGE, count_quarantine, list_quarantine

    limit = max(1, min(args.limit, MAX_PAGE))
    with open_sessions(config_of(args))() as session:
        rows = list_quarantine(session, limit + 1, args.before)
        total = count_quarantine(session)
    more, rows = len(rows) > limit, rows[:limit]
    if args.json:
        print_json(rows)
        return EXIT_OK
    print(f"隔离消息共 {total} 条（本页 {len(rows)} 条，从新到旧）")
    for q in rows:
        size = f"  {q['size']} 字节，仅保留开头" if q["truncated"] else ""
        print(
            f"#{q['id']:<6} {str(q['received_at'])[:19]} {q['source']:<6} {q['topic']}{size}\n"
            f"        原因: {q['reason']}\n        内容: {str(q['payload'])[:200]}"
        )
    if more:
        print(f"下一页: eldercare-hub quarantine list --before {rows[-1]['id']}")
    return EXIT_OK


def cmd_device_token(args: argparse.Namespace) -> int:
    """Issue an HTTP ingest token for a device (printed once, stored only as a hash)."""
    from hub.register.tokens import issue_token

    with open_sessions(config_of(args)).begin() as session:
        token = issue_token(session, args.device)
    print(token)
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    """Publish simulated daily-routine traffic to a broker."""
    from hub.sim import run_simulation

    with contextlib.suppress(KeyboardInterrupt):
        run(run_simulation(args.broker, args.homes, seed=args.seed, speed=args.speed, duration=args.duration))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Embedded broker + hub + simulator + page at http://127.0.0.1:8080."""
    from hub.demo import run_demo

    with contextlib.suppress(KeyboardInterrupt):
        run(run_demo(homes=args.homes, data_dir=Path(args.data_dir), port=args.port, duration=args.duration))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="eldercare-hub", description="居家独居老人智能监护平台")
    parser.add_argument("--config", help="TOML config file (default: $HUB_CONFIG, else embedded defaults)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(func=fn)
        return p

    add("run", cmd_run, "run the hub")
    p = add("load", cmd_load, "load a site description YAML (idempotent)")
    p.add_argument("file")
    p = add("device-token", cmd_device_token, "issue an HTTP ingest token for a device")
    p.add_argument("device", help="device code")

    p = add("quarantine", cmd_quarantine_list, "quarantined messages")
    q_sub = p.add_subparsers(dest="quarantine_cmd", required=True)
    ql = q_sub.add_parser("list", help="list quarantined messages")
    ql.add_argument("--json", action="store_true")
    ql.add_argument("--limit", type=int, default=50, help="messages per page (at most 500)")
    ql.add_argument("--before", type=int, default=None, help="continue after this id (the next page)")

    p = add("simulate", cmd_simulate, "publish simulated homes' traffic")
    p.add_argument("--homes", type=int, default=10)
    p.add_argument("--broker", default=os.environ.get("HUB_BROKER", "mqtt://127.0.0.1:1883"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second")
    p.add_argument("--duration", type=float, default=None, help="stop after this many wall seconds")

    p = add("demo", cmd_demo, "embedded broker + hub + simulator + web page")
    p.add_argument("--homes", type=int, default=8)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--data-dir", default="data/demo")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")

    for module in (rules_commands, alerts_commands, care_commands, deploy_commands, web_commands):
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        native.check()  # every command reads the register or decodes through the compiled modules
        return int(args.func(args))
    except ConfigError as exc:
        print(f"配置错误 configuration error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except HubError as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
