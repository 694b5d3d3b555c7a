"""`eldercare-hub` sub-commands contributed by hub.care: import, export, bundle, visits, tasks, report, elders."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from hub.care.errors import CareError
from hub.care.exports import LedgerHeader
from hub.care.register import IdAccess
from hub.cli_support import (
    EXIT_FAILED,
    EXIT_OK,
    config_of,
    open_sessions,
    print_json,
    print_table,
    progress,
)
from hub.config import Config

Handler = Callable[[argparse.Namespace], int]


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[tuple[Session, Config]]:
    config = config_of(args)
    with open_sessions(config).begin() as session:
        yield session, config


def _now() -> datetime:
    return datetime.now(UTC)


def _access(args: argparse.Namespace, session: Session, config: Config, what: str) -> IdAccess:
    from hub.care.register import grant_id_access

    access = IdAccess(reveal=bool(getattr(args, "show_id", False)), actor=getattr(args, "actor", "") or "")
    return grant_id_access(session, access, config.care.id_viewers, what=what, now=_now())


def cmd_import(args: argparse.Namespace) -> int:
    """Import a survey list (xlsx/CSV); exit 1 when any row has an error."""
    from hub.care.importer import import_file

    with _session(args) as (session, config):
        today = _now().astimezone(ZoneInfo(config.timezone)).date()
        with progress("导入") as advance:
            report = import_file(
                session,
                Path(args.file),
                source=args.source,
                dry_run=args.dry_run,
                today=today,
                progress=advance,
            )
        if args.dry_run:
            session.rollback()
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.summary())
    return EXIT_FAILED if report.problems else EXIT_OK


def _header(args: argparse.Namespace, config: Config) -> LedgerHeader:
    return LedgerHeader(
        unit=args.unit or config.care.unit,
        leader=args.leader or config.care.leader,
        filler=args.filler or config.care.filler,
        filled_on=_date(args.date, "填表日期 --date")
        if args.date
        else _now().astimezone(ZoneInfo(config.timezone)).date(),
    )


def _date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CareError(f"{what} 应写作 2026-12-28 这样的日期：{text!r}") from exc


def _current_half(config: Config) -> str:
    today = _now().astimezone(ZoneInfo(config.timezone)).date()
    return f"{today.year}H{1 if today.month <= 6 else 2}"


def cmd_export(args: argparse.Namespace) -> int:
    """Export the ledger, the register or the visit records as xlsx."""
    from hub.care.exports import export_ledger, export_register, export_visits, half_bounds

    out = Path(args.out)
    with _session(args) as (session, config):
        tz = ZoneInfo(config.timezone)
        half = args.half or _current_half(config)
        access = _access(args, session, config, f"export {args.what} {half} → {out}")
        if args.what == "ledger":
            n = export_ledger(session, out, half=half, tz=tz, header=_header(args, config), access=access)
        elif args.what == "register":
            n = export_register(session, out, access=access)
        else:
            start, end = half_bounds(half, tz)
            n = export_visits(session, out, start=start, end=end, tz=tz, access=access)
    print(f"已导出 {n} 条到 {out}")
    return EXIT_OK


def cmd_bundle(args: argparse.Namespace) -> int:
    """Write the half-year bundle (ledger + 附件2/附件3 per elder as xlsx and PDF) into a folder."""
    from hub.care.exports import export_bundle

    with _session(args) as (session, config):
        access = _access(args, session, config, f"bundle {args.half} → {args.out}")
        files = export_bundle(
            session,
            Path(args.out),
            half=args.half,
            tz=ZoneInfo(config.timezone),
            header=_header(args, config),
            access=access,
        )
    print(f"已生成 {len(files)} 个文件到 {args.out}")
    return EXIT_OK


_VISIT_OPTIONS = (
    "method",
    "visitor_name",
    "household_change",
    "household_delta",
    "expression",
    "mobility",
    "illness",
    "illness_name",
    "mood",
    "gas_safety",
    "water_heating_safety",
    "power_safety",
    "personal_hygiene",
    "home_hygiene",
    "indoor_environment",
    "needs",
    "suggestions",
    "problems_solved",
    "elder_signature",
    "elder_signed_at",
    "clerk_name",
    "clerk_signed_at",
    "visitor_signed_at",
)


def cmd_visits_add(args: argparse.Namespace) -> int:
    """Record a 附件3 visit (and optionally a care service with its satisfaction)."""
    from hub.care.register import find_elder
    from hub.care.visits import add_service, record_visit, visit_input

    data = {k: getattr(args, k) for k in _VISIT_OPTIONS if getattr(args, k) is not None}
    data["visited_at"] = args.at
    with _session(args) as (session, config):
        tz = ZoneInfo(config.timezone)
        if isinstance(data["visited_at"], str):
            try:
                at = datetime.fromisoformat(data["visited_at"])
            except ValueError as exc:
                raise CareError(f"探访时间 --at 应为 ISO 8601，例如 2026-11-03T10:00：{args.at!r}") from exc
            data["visited_at"] = at if at.tzinfo else at.replace(tzinfo=tz)
        visit = record_visit(
            session,
            find_elder(session, args.elder),
            visit_input(data),
            now=_now(),
            task_id=args.task,
            alert_id=args.alert,
            alert_outcome=args.alert_outcome,
        )
        if args.service:
            add_service(
                session,
                visit.elder,
                served_on=visit.visited_at.astimezone(tz).date(),
                description=args.service,
                worker_signature=args.service_worker or visit.visitor_name,
                satisfaction=args.satisfaction or "满意",
                visit=visit,
            )
        print(f"已记录 {visit.elder.name} 第 {visit.seq} 次探访（{visit.method}）")
    return EXIT_OK


def cmd_visits_list(args: argparse.Namespace) -> int:
    """List visit records of one elder or of a month."""
    from hub.care.register import find_elder
    from hub.care.visits import visit_dict, visits_between

    with _session(args) as (session, _config):
        elder_id = find_elder(session, args.elder).id if args.elder else None
        rows = [
            visit_dict(v) for v in visits_between(session, datetime(1970, 1, 1, tzinfo=UTC), _now(), elder_id)
        ]
    print_json(rows[-args.limit :])
    return EXIT_OK


def cmd_tasks_list(args: argparse.Namespace) -> int:
    """Due and overdue tasks, per visitor."""
    from hub.care.plans import list_tasks

    with _session(args) as (session, _config):
        rows = list_tasks(session, now=_now(), visitor=args.visitor, overdue_only=args.overdue)
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(
        ("编号", "到期", "任务", "老年人", "探访人员", "逾期"),
        (
            (
                f"#{t['id']}",
                t["due_at"][:16],
                t["kind_zh"],
                f"{t['elder_name']}（{t['elder']}）",
                t["assignee"] or "未指定",
                "【逾期】" if t["overdue"] else "",
            )
            for t in rows
        ),
        empty="没有待办任务",
    )
    return EXIT_OK


def cmd_tasks_plan(args: argparse.Namespace) -> int:
    """Plan visit, alert and review tasks and send reminders for overdue ones (what the hub does periodically)."""
    from hub.care.plans import run_planner

    with _session(args) as (session, config):
        result = run_planner(session, _now(), config.care, ZoneInfo(config.timezone))
    print(result.summary())
    return EXIT_OK


def cmd_report_false_alarms(args: argparse.Namespace) -> int:
    """Print the monthly false-alarm rate per rule (alert kind), then per home and rule."""
    from hub.care.reports import false_alarms

    with _session(args) as (session, config):
        report = false_alarms(session, args.month, ZoneInfo(config.timezone))
    if args.json:
        print_json(report)
        return EXIT_OK
    print(f"{report['month']} 误报率（老人自报平安、探访确认无事 / 已处理告警）")
    for title, rows, keys in (
        ("按规则", report["by_kind"], ()),
        ("按住户与规则", report["by_home"], ("home",)),
    ):
        print(title)
        print_table(
            (*("住户" for _ in keys), "规则", "已处理", "误报", "误报率"),
            (
                (*(r[k] for k in keys), r["kind_zh"], r["resolved"], r["false_alarms"], f"{r['rate']:.0%}")
                for r in rows
            ),
            empty="本月没有已处理的告警",
        )
    return EXIT_OK


def cmd_report_visit_rate(args: argparse.Namespace) -> int:
    """The monthly visit rate per street, village and visitor, with the elders not visited."""
    from hub.care.reports import visit_rate

    with _session(args) as (session, config):
        report = visit_rate(session, args.month, ZoneInfo(config.timezone))
    if args.json:
        print_json(report.to_dict())
    else:
        print(report.text())
    return EXIT_OK


def cmd_elders_list(args: argparse.Namespace) -> int:
    """List elders (ID numbers and phones masked)."""
    from hub.care.register import all_elders, elder_summary

    with _session(args) as (session, _config):
        rows = [elder_summary(e) for e in all_elders(session)]
    print_json(rows)
    return EXIT_OK


def cmd_elders_review(args: argparse.Namespace) -> int:
    """Mark an elder's record as reviewed (the half-year review)."""
    from hub.care.plans import review_elder
    from hub.care.register import find_elder

    with _session(args) as (session, _config):
        elder = find_elder(session, args.elder)
        closed = review_elder(session, elder, by=args.by, now=_now())
    print(f"已复核 {elder.name}，关闭复核任务 {closed} 个")
    return EXIT_OK


def _reveal_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--show-id", action="store_true", help="show full ID numbers (needs --as, audited)")
    p.add_argument("--as", dest="actor", default="", help="who exports (must be in care.id_viewers)")


def _header_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--unit", default="", help="填表单位")
    p.add_argument("--leader", default="", help="主要领导审核")
    p.add_argument("--filler", default="", help="填报人")
    p.add_argument("--date", default="", help="填表日期 (YYYY-MM-DD, default today)")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's sub-commands to the CLI (each sets ``func`` to a handler returning an exit code)."""
    p = sub.add_parser("import", help="import a survey list (xlsx/CSV): 摸排, 计生特殊家庭, 残联")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    p.add_argument("--source", choices=("survey", "health", "disabled"), default="survey")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export the ledger (附件1), register (附件2) or visits (附件3) as xlsx")
    p.add_argument("what", choices=("ledger", "register", "visits"))
    p.add_argument("--out", required=True)
    p.add_argument("--half", default="", help="e.g. 2026H2 (default: the current half year)")
    _header_options(p)
    _reveal_options(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("bundle", help="the half-year bundle for the district bureau")
    p.add_argument("--half", required=True, help="e.g. 2026H2")
    p.add_argument("--out", required=True, help="output folder")
    _header_options(p)
    _reveal_options(p)
    p.set_defaults(func=cmd_bundle)

    p = sub.add_parser("visits", help="visit records (附件3)")
    vsub = p.add_subparsers(dest="visits_cmd", required=True)
    va = vsub.add_parser("add", help="record a visit")
    va.add_argument("--elder", required=True, help="elder code or ID number")
    va.add_argument("--at", required=True, help="visit time, ISO 8601 (local time zone if none)")
    va.add_argument("--method", required=True, help="电话问候 | 上门探访 | 互联网音（视）频探访 | 其他")
    va.add_argument("--visitor", dest="visitor_name", required=True, help="探访人员")
    for option in _VISIT_OPTIONS[2:]:
        va.add_argument("--" + option.replace("_", "-"), dest=option, default=None)
    va.add_argument("--task", type=int, default=None, help="the task this visit answers")
    va.add_argument("--alert", type=int, default=None, help="the alert this visit answers (resolves it)")
    va.add_argument(
        "--alert-outcome",
        default="visit_ok",
        choices=["visit_ok", "real_danger", "device_fault", "other"],
        help="what the visit found: visit_ok 探访确认无事 | real_danger 确有险情 | device_fault 设备故障 | other 其他",
    )
    va.add_argument("--service", default="", help="关爱服务情况 (adds a care service record)")
    va.add_argument("--service-worker", default="", help="服务人员")
    va.add_argument("--satisfaction", default="", help="非常满意 | 满意 | 基本满意 | 不满意")
    va.set_defaults(func=cmd_visits_add)
    vl = vsub.add_parser("list", help="list visit records (JSON)")
    vl.add_argument("--elder", default="")
    vl.add_argument("--limit", type=int, default=100)
    vl.set_defaults(func=cmd_visits_list)

    p = sub.add_parser("tasks", help="visit tasks")
    tsub = p.add_subparsers(dest="tasks_cmd", required=True)
    tl = tsub.add_parser("list", help="due and overdue tasks")
    tl.add_argument("--visitor", default=None)
    tl.add_argument("--overdue", action="store_true")
    tl.add_argument("--json", action="store_true")
    tl.set_defaults(func=cmd_tasks_list)
    tp = tsub.add_parser("plan", help="plan tasks and send reminders now")
    tp.set_defaults(func=cmd_tasks_plan)

    p = sub.add_parser("report", help="reports")
    rsub = p.add_subparsers(dest="report_cmd", required=True)
    rv = rsub.add_parser("visit-rate", help="monthly visit rate")
    rv.add_argument("--month", required=True, help="e.g. 2026-11")
    rv.add_argument("--json", action="store_true")
    rv.set_defaults(func=cmd_report_visit_rate)
    rf = rsub.add_parser("false-alarms", help="monthly false-alarm rate per rule and per home (误报率)")
    rf.add_argument("--month", required=True, help="e.g. 2026-11")
    rf.add_argument("--json", action="store_true")
    rf.set_defaults(func=cmd_report_false_alarms)

    p = sub.add_parser("elders", help="the care register")
    esub = p.add_subparsers(dest="elders_cmd", required=True)
    el = esub.add_parser("list", help="list elders (masked)")
    el.set_defaults(func=cmd_elders_list)
    er = esub.add_parser("review", help="mark an elder's record as reviewed")
    er.add_argument("elder")
    er.add_argument("--by", required=True)
    er.set_defaults(func=cmd_elders_review)
