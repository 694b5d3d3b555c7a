"""`eldercare-hub` sub-commands contributed by hub.rules: the absence calendar, weather/festival modes, replay."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from hub.cli_support import EXIT_OK, config_of, open_sessions, print_json, print_table, progress
from hub.models import AlertCandidate
from hub.rules.errors import RulesError

if TYPE_CHECKING:
    from hub.rules.replay import SiteRegister


def parse_when(text: str, timezone: str) -> datetime:
    """An ISO-8601 time; without an offset it is local time in `timezone` ("2026-03-01 08:00")."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RulesError(
            f"not a time: {text!r} (use e.g. 2026-03-01 08:00 or 2026-03-01T00:00+08:00)"
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def _local(value: datetime, timezone: str) -> str:
    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def cmd_absence(args: argparse.Namespace) -> int:
    """absence add|list|remove."""
    from hub.rules.calendar import add_absence, list_absences, remove_absence

    config = config_of(args)
    tz = config.timezone
    sessions = open_sessions(config)
    if args.absence_cmd == "add":
        start, end = parse_when(args.start, tz), parse_when(args.end, tz)
        with sessions.begin() as session:
            row = add_absence(session, args.home, start, end, args.reason, datetime.now(UTC))
            print(f"已登记离家 #{row.id}: {args.home} {_local(start, tz)} → {_local(end, tz)} {args.reason}")
        return EXIT_OK
    if args.absence_cmd == "remove":
        with sessions.begin() as session:
            remove_absence(session, args.id)
        print(f"已删除离家登记 #{args.id}")
        return EXIT_OK
    with sessions() as session:
        rows = [
            {
                "id": r.id,
                "home": r.home_code,
                "start": r.start.isoformat(),
                "end": r.end.isoformat(),
                "reason": r.reason,
            }
            for r in list_absences(session, args.home)
        ]
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(
        ("编号", "住户", "开始", "结束", "原因"),
        (
            (
                f"#{r['id']}",
                r["home"],
                _local(datetime.fromisoformat(str(r["start"])), tz),
                _local(datetime.fromisoformat(str(r["end"])), tz),
                r["reason"],
            )
            for r in rows
        ),
        empty="没有离家登记",
    )
    return EXIT_OK


def cmd_mode(args: argparse.Namespace) -> int:
    """mode set|list|clear."""
    from hub.rules.calendar import MODE_KINDS, add_mode, clear_mode, list_modes

    config = config_of(args)
    tz = config.timezone
    sessions = open_sessions(config)
    if args.mode_cmd == "set":
        start, end = parse_when(args.start, tz), parse_when(args.end, tz)
        scope = "street" if args.street else "district"
        with sessions.begin() as session:
            row = add_mode(
                session,
                args.kind,
                scope,
                args.street or "",
                start,
                end,
                args.factor,
                args.note,
                datetime.now(UTC),
            )
        where = args.street or "全区"
        print(
            f"已启用{MODE_KINDS[args.kind]}模式 #{row.id}: {where} {_local(start, tz)} → {_local(end, tz)}，"
            f"时间窗口 ×{args.factor:g}"
        )
        return EXIT_OK
    if args.mode_cmd == "clear":
        with sessions.begin() as session:
            clear_mode(session, args.id)
        print(f"已取消模式 #{args.id}")
        return EXIT_OK
    with sessions() as session:
        rows = [
            {
                "id": m.id,
                "kind": m.kind,
                "scope": m.scope,
                "street": m.street,
                "start": m.start.isoformat(),
                "end": m.end.isoformat(),
                "factor": m.factor,
                "note": m.note,
            }
            for m in list_modes(session)
        ]
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(
        ("编号", "模式", "范围", "开始", "结束", "时间窗口", "备注"),
        (
            (
                f"#{m['id']}",
                MODE_KINDS[str(m["kind"])],
                m["street"] or "全区",
                _local(datetime.fromisoformat(str(m["start"])), tz),
                _local(datetime.fromisoformat(str(m["end"])), tz),
                f"×{m['factor']:g}",
                m["note"],
            )
            for m in rows
        ),
        empty="没有极端天气或节假日模式",
    )
    return EXIT_OK


def replay_first_step(register: SiteRegister, candidate: AlertCandidate) -> Literal["elder_check", "page"]:
    """How the alert would begin in the hub: by asking the elder first, or by paging (`policy.first_step`)."""
    from hub.alerts.policy import first_step

    can_answer, has_phone = register.reach.get(candidate.home, (False, False))
    return first_step(candidate.check_first, can_answer, has_phone)


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a JSONL recording through decoding and the rules; one JSON line per alert, then a summary."""
    from hub.rules.replay import alert_json, load_site_register, read_lines, replay_with_engine

    config = config_of(args) if args.config else None
    timezone = config.timezone if config else "Asia/Shanghai"
    rules_config = config.rules if config else None
    calendar = None
    if args.calendar:
        if config is None:
            raise RulesError("--calendar reads the absence calendar and modes of the register: give --config")
        from hub.rules.calendar import load_calendar

        with open_sessions(config)() as session:
            calendar = load_calendar(session, datetime(1970, 1, 2, tzinfo=UTC))
    path = Path(args.file)
    if not path.is_file():
        raise RulesError(f"replay file not found: {path}")
    store = Path(args.store) if args.store else None
    if store is not None and store.exists():
        raise RulesError(
            f"--store {store} exists already: name a new file (a replay never appends to a store)"
        )

    with tempfile.TemporaryDirectory(prefix="eldercare-replay-") as tmp:
        register = load_site_register(Path(args.site), Path(tmp))

    def emit(candidate: AlertCandidate) -> None:
        print(json.dumps(alert_json(candidate, replay_first_step(register, candidate)), ensure_ascii=False))

    with progress("回放 replay") as report:
        summary = asyncio.run(
            replay_with_engine(
                read_lines(path, report),
                register,
                config=rules_config,
                timezone=timezone,
                emit=emit,
                calendar=calendar,
                speed=args.speed,
                store=store,
            )
        )
    print(json.dumps({"summary": summary.to_json()}, ensure_ascii=False))
    sys.stdout.flush()
    return EXIT_OK


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's sub-commands to the CLI (each sets ``func`` to a handler returning an exit code)."""
    p = sub.add_parser(
        "absence", help="absence calendar (hospital, staying with family): suppresses inactivity rules"
    )
    p.set_defaults(func=cmd_absence)
    a_sub = p.add_subparsers(dest="absence_cmd", required=True)
    pa = a_sub.add_parser("add", help="record an absence")
    pa.add_argument("home", help="home code")
    pa.add_argument("--start", required=True, help="local time, e.g. '2026-03-01 08:00'")
    pa.add_argument("--end", required=True)
    pa.add_argument("--reason", default="", help="e.g. 住院, 探亲")
    pl = a_sub.add_parser("list", help="list absences")
    pl.add_argument("--home", default=None)
    pl.add_argument("--json", action="store_true")
    pr = a_sub.add_parser("remove", help="remove an absence")
    pr.add_argument("id", type=int)

    p = sub.add_parser("mode", help="extreme-weather / festival mode: tightens the windows")
    p.set_defaults(func=cmd_mode)
    m_sub = p.add_subparsers(dest="mode_cmd", required=True)
    ms = m_sub.add_parser("set", help="switch a mode on for the district or one street")
    ms.add_argument("kind", choices=("weather", "festival"))
    ms.add_argument("--street", default="", help="乡镇（街道）; omit for the whole district")
    ms.add_argument("--start", required=True)
    ms.add_argument("--end", required=True)
    ms.add_argument("--factor", type=float, default=0.5, help="windows are multiplied by this (0 < f ≤ 1)")
    ms.add_argument("--note", default="")
    ml = m_sub.add_parser("list", help="list modes")
    ml.add_argument("--json", action="store_true")
    mc = m_sub.add_parser("clear", help="remove a mode")
    mc.add_argument("id", type=int)

    p = sub.add_parser("replay", help="replay recorded traffic through the rules on a simulated clock")
    p.set_defaults(func=cmd_replay)
    p.add_argument("file", help="JSONL: {ts, topic, payload} per line")
    p.add_argument("--site", required=True, help="site YAML with the homes and device bindings")
    p.add_argument("--speed", type=float, default=0.0, help="simulated seconds per wall second; 0 = flat out")
    p.add_argument(
        "--calendar", action="store_true", help="use the absences and modes of the configured register"
    )
    # Also after the sub-command; SUPPRESS keeps a --config given before it when this one is absent.
    p.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="TOML config file: time zone and rule settings, and the register for --calendar",
    )
    p.add_argument(
        "--store",
        default=None,
        metavar="FILE",
        help="also write the replayed readings to this new SQLite file (default: in memory, nothing on disk)",
    )
