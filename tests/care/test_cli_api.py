"""The care commands and the same operations over HTTP, on a real register."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook

from hub.care.settings import CareConfig
from hub.cli import main
from hub.clock import FrozenClock
from hub.register.db import make_engine, session_factory
from hub.web.api import build_app
from hub.web.auth import add_user, issue_api_token
from hub.web.care_api import CARE
from hub.web.services import Services
from tests.care.conftest import add_elder, make_id, utc
from tests.care.test_import import HEADER, survey_rows, write_xlsx


def _config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "hub.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[register]\nurl = "{url}"\n[care]\nid_viewers = ["陈书记"]\n',
        encoding="utf-8",
    )
    return str(path)


def test_cli_import_visit_report_export(
    register_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, register_url)
    # The survey has no 建档日期: its elders are filed today (local time), so the report is of this month
    # and the visit is of this minute (never in the future, never before the month began).
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    month, visited_at = now.strftime("%Y-%m"), now.strftime("%Y-%m-%dT%H:%M")
    half = f"{now.year}H{1 if now.month <= 6 else 2}"
    survey = write_xlsx(tmp_path / "摸排.xlsx", HEADER, survey_rows())
    assert main(["--config", cfg, "import", str(survey), "--dry-run"]) == 1
    assert "第 5 行「联系电话」" in capsys.readouterr().out
    assert main(["--config", cfg, "import", str(survey)]) == 1  # bad rows reported, good rows land
    assert "新增 2" in capsys.readouterr().out
    ref = make_id("50011219450305123")
    args = [
        "--config",
        cfg,
        "visits",
        "add",
        "--elder",
        ref,
        "--at",
        visited_at,
        "--method",
        "上门探访",
    ]
    args += [
        "--visitor",
        "王探访",
        "--gas-safety",
        "较安全",
        "--problems-solved",
        "1",
        "--service",
        "代购药品",
    ]
    assert main([*args, "--satisfaction", "非常满意"]) == 0
    assert "第 1 次探访" in capsys.readouterr().out
    assert main(["--config", cfg, "report", "visit-rate", "--month", month]) == 0
    report = capsys.readouterr().out
    assert "应探访 2 人" in report and "已探访 1" in report
    out = tmp_path / "台帐.xlsx"
    assert (
        main(
            [
                "--config",
                cfg,
                "export",
                "ledger",
                "--out",
                str(out),
                "--half",
                half,
                "--unit",
                "双凤桥街道",
            ]
        )
        == 0
    )
    ws = load_workbook(out).active
    assert ws is not None and ws["B3"].value == "姓名"
    assert sorted(r[4][-4:] for r in ws.iter_rows(min_row=5, max_row=6, values_only=True)) == sorted(
        [ref[-4:], make_id("50011219380817456")[-4:]]
    )
    assert all("***" in r[4] for r in ws.iter_rows(min_row=5, max_row=6, values_only=True))
    assert main(["--config", cfg, "export", "ledger", "--out", str(out), "--show-id", "--as", "路人"]) == 1
    assert main(["--config", cfg, "bundle", "--half", half, "--out", str(tmp_path / "b")]) == 0
    assert len(list((tmp_path / "b" / "附件2_附件3").glob("*.pdf"))) == 2


async def test_api_visits_tasks_report_import_export(register_url: str, tmp_path: Path) -> None:
    engine = make_engine(register_url)
    sessions = session_factory(engine)
    with sessions.begin() as session:
        add_elder(session, "E1", tier="key")
    clock = FrozenClock(utc(2026, 11, 20, 2))
    with sessions.begin() as session:
        add_user(session, "陈书记", "admin", now=clock.now())
        token = issue_api_token(session, "陈书记", now=clock.now())
    auth = {"Authorization": f"Bearer {token}"}
    app = build_app(Services(sessions, None, None, clock, lambda: True))  # type: ignore[arg-type]
    app[CARE] = (CareConfig(id_viewers=["陈书记"]), "Asia/Shanghai")
    async with TestClient(TestServer(app)) as client:

        async def call(method: str, path: str, status: int = 200, **kw: Any) -> Any:
            resp = await client.request(method, path, headers=auth, **kw)
            assert resp.status == status, await resp.text()
            return await resp.json()

        body = {
            "elder": "E1",
            "visited_at": "2026-11-18T10:00+08:00",
            "method": "上门探访",
            "visitor_name": "王探访",
        }
        body |= {"mood": "较好", "service": {"description": "理发", "satisfaction": "满意"}}
        made = await call("POST", "/api/v1/visits", 201, json=body)
        assert made["seq"] == 1 and made["mood"] == "较好" and made["services"][0]["satisfaction"] == "满意"
        bad = await call("POST", "/api/v1/visits", 400, json={**body, "method": "上门"})
        assert "探访方式" in bad["error"]
        assert [v["seq"] for v in await call("GET", "/api/v1/visits?elder=E1")] == [1]
        rate = await call("GET", "/api/v1/reports/visit-rate?month=2026-11")
        assert rate["total"]["visited"] == 1 and rate["short"][0]["code"] == "E1"  # nothing in the first half
        elders = await call("GET", "/api/v1/elders")
        assert elders[0]["phone"] == "138****0000"
        assert await call("GET", "/api/v1/tasks") == []
        data = write_xlsx(tmp_path / "m.xlsx", HEADER, survey_rows()).read_bytes()
        report = await call("POST", "/api/v1/imports?filename=m.xlsx&dry_run=1", data=data)
        assert report["created"] == 2 and {p["row"] for p in report["problems"]} == {4, 5, 6, 7, 9}
        resp = await client.get("/api/v1/exports/ledger?half=2026H2", headers=auth)
        assert resp.status == 200
        (tmp_path / "l.xlsx").write_bytes(await resp.read())
        assert load_workbook(tmp_path / "l.xlsx").active["A1"].value == "渝北区特殊困难老年人关爱服务信息台帐"  # type: ignore[index]
        denied = await client.get("/api/v1/exports/ledger?show_id=1&as=路人", headers=auth)
        assert denied.status == 403  # only the signed-in user may ask, in their own name
        shown = await client.get("/api/v1/exports/ledger?show_id=1", headers=auth)
        assert shown.status == 200  # 陈书记 is in care.id_viewers
    engine.dispose()
