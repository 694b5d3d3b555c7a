"""`eldercare-hub` sub-commands contributed by hub.alerts: the street on-call rota."""

from __future__ import annotations

import argparse
import re

from sqlalchemy import select

from hub.alerts.tables import OnCallShift

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's sub-commands to the CLI (each sets ``func`` to a handler returning an exit code)."""
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


def _add(args: argparse.Namespace) -> int:
    from hub.cli import _config, _sessions

    for key in ("start", "end"):
        if not _HHMM.match(getattr(args, key)):
            raise SystemExit(f"--{key}: must be HH:MM, got {getattr(args, key)!r}")
    if not args.weekdays or set(args.weekdays) - set("1234567"):
        raise SystemExit(f"--weekdays: digits 1-7 only, got {args.weekdays!r}")
    with _sessions(_config(args)).begin() as session:
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
    return 0


def _list(args: argparse.Namespace) -> int:
    from hub.cli import _config, _sessions

    with _sessions(_config(args))() as session:
        rows = session.scalars(select(OnCallShift).order_by(OnCallShift.street, OnCallShift.start)).all()
    for r in rows:
        print(f"{r.street}\t周{r.weekdays}\t{r.start}-{r.end}\t{r.name}\t{r.phone}")
    return 0
