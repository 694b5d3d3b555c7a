"""`eldercare-hub` sub-commands contributed by hub.web.

- ``user add NAME --role ROLE [--street S] [--community C] [--elder CODE] [--visitor-of CODE] [--phone P]``
  (the password is read from ``--password-env VAR`` or asked for at the terminal);
- ``user password NAME``, ``user list``, ``user token NAME`` (prints a new API token once);
- ``user disable NAME`` / ``user enable NAME`` (audited; disabling signs the user out and stops their tokens);
- ``audit list`` and ``audit purge`` (deletes only rows older than ``web.audit_retention_days`` ≥ 183).
"""

from __future__ import annotations

import argparse
import getpass
import os

from sqlalchemy import select

from hub.cli_support import EXIT_OK, config_of, open_sessions, print_json, print_table
from hub.clock import SystemClock
from hub.web import audit
from hub.web.auth import UserError, add_user, issue_api_token, set_disabled, set_password
from hub.web.scope import ROLES
from hub.web.tables import WebUser

CLI_ACTOR = "命令行"  # who the audit log names for changes made at the hub's terminal


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env, "")
        if not value:
            raise SystemExit(f"--password-env: environment variable {args.password_env} is empty or unset")
        return value
    first = getpass.getpass("密码: ")
    if first != getpass.getpass("再次输入: "):
        raise SystemExit("两次输入的密码不一致")
    return first


def _user_add(args: argparse.Namespace) -> int:
    password = "" if args.no_password else _password(args)
    if not args.no_password and len(password) < 8:
        raise SystemExit("密码至少 8 个字符")
    with open_sessions(config_of(args)).begin() as session:
        try:
            add_user(
                session,
                args.name,
                args.role,
                now=SystemClock().now(),
                password=password,
                street=args.street,
                community=args.community,
                phone=args.phone,
                elders=[*args.elder, *args.visitor_of],
            )
        except UserError as exc:
            raise SystemExit(str(exc)) from exc
    print(f"已添加用户 {args.name}（{ROLES[args.role]}）")
    return EXIT_OK


def _user_password(args: argparse.Namespace) -> int:
    password = _password(args)
    with open_sessions(config_of(args)).begin() as session:
        try:
            set_password(session, args.name, password)
        except UserError as exc:
            raise SystemExit(str(exc)) from exc
    print(f"已更新 {args.name} 的密码（其浏览器会话已注销）")
    return EXIT_OK


def _user_token(args: argparse.Namespace) -> int:
    with open_sessions(config_of(args)).begin() as session:
        try:
            token = issue_api_token(session, args.name, now=SystemClock().now(), label=args.label)
        except UserError as exc:
            raise SystemExit(str(exc)) from exc
    print(token)
    return EXIT_OK


def _user_switch(args: argparse.Namespace) -> int:
    disabled = args.user_cmd == "disable"
    with open_sessions(config_of(args)).begin() as session:
        try:
            set_disabled(session, args.name, disabled, now=SystemClock().now(), by=CLI_ACTOR)
        except UserError as exc:
            raise SystemExit(str(exc)) from exc
    print(
        f"已{'停用' if disabled else '启用'}用户 {args.name}"
        + ("（其会话与令牌均已失效）" if disabled else "")
    )
    return EXIT_OK


def _user_list(args: argparse.Namespace) -> int:
    with open_sessions(config_of(args))() as session:
        users = session.scalars(select(WebUser).order_by(WebUser.name)).all()
    print_table(
        ("用户", "角色", "辖区", "老人", "停用"),
        (
            (
                u.name,
                ROLES[u.role],
                "/".join(x for x in (u.street, u.community) if x) or "-",
                ",".join(u.elders) or "-",
                "停用" if u.disabled else "",
            )
            for u in users
        ),
    )
    return EXIT_OK


def _audit_list(args: argparse.Namespace) -> int:
    with open_sessions(config_of(args))() as session:
        rows = audit.entries(session, action=args.action, actor=args.actor, limit=args.limit)
    if args.json:
        print_json(rows, indent=1)
    else:
        print_table(
            ("时间", "用户", "操作", "对象", "结果", "IP"),
            ((r["at"], r["actor"], r["action_zh"], r["target"], r["outcome"], r["ip"]) for r in rows),
        )
    return EXIT_OK


def _audit_purge(args: argparse.Namespace) -> int:
    config = config_of(args)
    days = args.older_than_days or config.web.audit_retention_days
    with open_sessions(config).begin() as session:
        try:
            n = audit.purge(session, now=SystemClock().now(), retention_days=days)
        except audit.AuditError as exc:
            raise SystemExit(str(exc)) from exc
    print(f"已删除 {days} 天前的审计记录 {n} 条")
    return EXIT_OK


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this package's sub-commands to the CLI (each sets ``func`` to a handler returning an exit code)."""
    user = sub.add_parser("user", help="平台用户 (web users and API tokens)")
    usub = user.add_subparsers(dest="user_cmd", required=True)
    add = usub.add_parser("add", help="添加用户")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=sorted(ROLES))
    add.add_argument("--street", default="", help="乡镇（街道）: street and community staff")
    add.add_argument("--community", default="", help="村（社区）: community staff")
    add.add_argument("--elder", action="append", default=[], help="老人编号: a relative's own elder")
    add.add_argument("--visitor-of", action="append", default=[], help="老人编号 assigned to a visitor")
    add.add_argument("--phone", default="", help="visitors/relatives: matched to the elders' contacts")
    add.add_argument("--password-env", default="", help="read the password from this environment variable")
    add.add_argument("--no-password", action="store_true", help="API token only, no web login")
    add.set_defaults(func=_user_add)
    pw = usub.add_parser("password", help="重设密码")
    pw.add_argument("name")
    pw.add_argument("--password-env", default="")
    pw.set_defaults(func=_user_password)
    tok = usub.add_parser("token", help="签发 API 令牌（只显示一次）")
    tok.add_argument("name")
    tok.add_argument("--label", default="")
    tok.set_defaults(func=_user_token)
    usub.add_parser("list", help="列出用户").set_defaults(func=_user_list)
    for cmd, text in (
        ("disable", "停用用户（会话与令牌立即失效，留痕）"),
        ("enable", "重新启用用户（留痕）"),
    ):
        switch = usub.add_parser(cmd, help=text)
        switch.add_argument("name")
        switch.set_defaults(func=_user_switch)

    aud = sub.add_parser("audit", help="审计日志 (audit log)")
    asub = aud.add_subparsers(dest="audit_cmd", required=True)
    lst = asub.add_parser("list", help="最近的审计记录")
    lst.add_argument("--action", default=None, choices=sorted(audit.ACTIONS))
    lst.add_argument("--actor", default=None)
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_audit_list)
    purge = asub.add_parser("purge", help="删除超过保留期的审计记录（至少保留 183 天）")
    purge.add_argument("--older-than-days", type=int, default=0, help="default: web.audit_retention_days")
    purge.set_defaults(func=_audit_purge)
