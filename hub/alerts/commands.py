"""`eldercare-hub` sub-commands contributed by hub.alerts: the alert list and the street on-call rota."""

from __future__ import annotations

import argparse
import re

from sqlalchemy import select

from hub.alerts.tables import OnCallShift
from hub.cli_support import EXIT_FAILED, EXIT_OK, config_of, open_sessions, print_json, print_table

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's sub-commands to the CLI (each sets ``func`` to a handler returning an exit code)."""
    alerts = sub.add_parser("alerts", help="alerts")
    asub = alerts.add_subparsers(dest="alerts_cmd", required=True)
    lst = asub.add_parser("list", help="list alerts")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--active", action="store_true", help="only active alerts")
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(func=cmd_alerts_list)

    rules = sub.add_parser("rules", help="per-home rule adjustments after false alarms (规则自动调整)")
    rsub = rules.add_subparsers(dest="rules_cmd", required=True)
    adj = rsub.add_parser("adjustments", help="threshold factors changed after repeated false alarms")
    adjsub = adj.add_subparsers(dest="adjustments_cmd", required=True)
    al = adjsub.add_parser("list", help="list adjustments, newest first")
    al.add_argument("--json", action="store_true")
    al.set_defaults(func=cmd_adjustments_list)
    ar = adjsub.add_parser("revert", help="undo an adjustment (the factor falls back to the one before)")
    ar.add_argument("id", type=int)
    ar.add_argument("--by", required=True, help="who undoes it (kept with the row)")
    ar.set_defaults(func=cmd_adjustments_revert)

    oncall = sub.add_parser("oncall", help="街道值班表 (street on-call rota)")
    osub = oncall.add_subparsers(dest="oncall_cmd", required=True)
    add = osub.add_parser("add", help="添加值班时段 (add a rota window)")
    add.add_argument("--street", required=True, help="乡镇（街道）, as in the homes' street")
    add.add_argument("--weekdays", default="1234567", help="ISO weekdays, Monday = 1 (default every day)")
    add.add_argument("--start", default="00:00", help="local HH:MM")
    add.add_argument("--end", default="00:00", help="local HH:MM; not after start = over midnight")
    add.add_argument("--name", required=True)
    add.add_argument("--phone", required=True)
    add.set_defaults(func=_add)
    show = osub.add_parser("list", help="列出值班表 (list the rota)")
    show.set_defaults(func=_list)


def cmd_alerts_list(args: argparse.Namespace) -> int:
    """List alerts, newest first."""
    from hub.alerts.store import list_alerts

    with open_sessions(config_of(args))() as session:
        rows = list_alerts(session, active_only=args.active, limit=args.limit)
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(
        ("编号", "开始时间", "住户", "类型", "级别", "状态", "次数", "说明"),
        (
            (
                f"#{a['id']}",
                a["opened_at"][:19],
                a["home"],
                a["kind"],
                a["severity"],
                a["state"],
                f"×{a['count']}",
                a["explanation"],
            )
            for a in rows
        ),
        empty="没有告警",
    )
    return EXIT_OK


def _add(args: argparse.Namespace) -> int:
    for key in ("start", "end"):
        if not _HHMM.match(getattr(args, key)):
            raise SystemExit(f"--{key}: must be HH:MM, got {getattr(args, key)!r}")
    if not args.weekdays or set(args.weekdays) - set("1234567"):
        raise SystemExit(f"--weekdays: digits 1-7 only, got {args.weekdays!r}")
    with open_sessions(config_of(args)).begin() as session:
        session.add(
            OnCallShift(
                street=args.street,
                weekdays=args.weekdays,
                start=args.start,
                end=args.end,
                name=args.name,
                phone=args.phone,
            )
        )
    print(f"已添加值班：{args.street} 周{args.weekdays} {args.start}-{args.end} {args.name} {args.phone}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    with open_sessions(config_of(args))() as session:
        rows = session.scalars(select(OnCallShift).order_by(OnCallShift.street, OnCallShift.start)).all()
    print_table(
        ("乡镇（街道）", "星期", "时段", "姓名", "电话"),
        ((r.street, f"周{r.weekdays}", f"{r.start}-{r.end}", r.name, r.phone) for r in rows),
    )
    return EXIT_OK


def cmd_adjustments_list(args: argparse.Namespace) -> int:
    """List the per-home rule adjustments, newest first."""
    from hub.alerts.adjust import list_adjustments

    with open_sessions(config_of(args))() as session:
        rows = list_adjustments(session)
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(
        ("编号", "时间", "住户", "规则", "系数", "原因", "操作人", "已撤销"),
        (
            (
                f"#{r['id']}",
                r["at"][:19],
                r["home"],
                r["kind_zh"],
                f"{r['previous']:g}→{r['factor']:g}",
                r["reason"],
                r["by"],
                f"{r['reverted_at'][:19]} {r['reverted_by']}" if r["reverted_at"] else "",
            )
            for r in rows
        ),
        empty="没有规则调整",
    )
    return EXIT_OK


def cmd_adjustments_revert(args: argparse.Namespace) -> int:
    """Undo one adjustment; an unknown or already reverted id is a one-line error (exit 1)."""
    from datetime import UTC, datetime

    from hub.alerts.adjust import revert
    from hub.alerts.errors import AlertError

    try:
        with open_sessions(config_of(args)).begin() as session:
            row = revert(session, args.id, by=args.by, at=datetime.now(UTC))
            print(f"已撤销调整 #{row.id}：{row.kind} 系数恢复为此前生效的值（下次规则刷新时生效）")
    except AlertError as exc:
        print(f"错误 error: {exc}")
        return EXIT_FAILED
    return EXIT_OK
