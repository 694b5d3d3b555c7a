"""Odd and hostile input to the care commands and API: a clear error line or a 400, never a traceback or a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.care.settings import CareConfig
from hub.cli import main
from hub.clock import FrozenClock
from hub.register.db import make_engine, migrate, session_factory
from hub.web.api import build_app
from hub.web.auth import add_user, issue_api_token
from hub.web.care_api import CARE
from hub.web.services import Services
from tests.care.conftest import add_elder, utc
from tests.care.test_import import HEADER, survey_rows, write_xlsx

BAD_MONTHS = ["0001-01", "9999-12", "0000-00", "2026-13", "-1-01", "2026", ""]
BAD_HALVES = ["0001H1", "9999H2", "0000H1", "2026H3"]


def _corrupt_xlsx(tmp_path: Path) -> Path:
    good = write_xlsx(tmp_path / "good.xlsx", HEADER, survey_rows()).read_bytes()
    path = tmp_path / "corrupt.xlsx"
    path.write_bytes(good[: len(good) // 2])  # cut in the middle, as a failed upload leaves it
    return path


@pytest.fixture
def cfg(tmp_path: Path) -> str:
    path = tmp_path / "hub.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    return str(path)


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out = capsys.readouterr()
    assert code != 0, out
    assert "Traceback" not in out.err + out.out
    assert out.err.startswith("错误 error:"), out.err
    return out.err


@pytest.mark.parametrize("content", ["corrupt", "not a zip", "empty"])
def test_cli_import_of_a_broken_xlsx_is_an_error_line(
    cfg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = _corrupt_xlsx(tmp_path)
    if content == "not a zip":
        path.write_bytes(b"PK\x03\x04 this is not really a workbook")
    elif content == "empty":
        path.write_bytes(b"")
    err = _refused(["--config", cfg, "import", str(path)], capsys)
    assert "不是有效的 xlsx 文件" in err


@pytest.mark.parametrize("month", BAD_MONTHS)
def test_cli_visit_rate_of_an_impossible_month_is_an_error_line(
    cfg: str, capsys: pytest.CaptureFixture[str], month: str
) -> None:
    err = _refused(["--config", cfg, "report", "visit-rate", f"--month={month}"], capsys)
    assert "月份" in err


@pytest.mark.parametrize("half", BAD_HALVES)
def test_cli_export_of_an_impossible_half_year_is_an_error_line(
    cfg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], half: str
) -> None:
    err = _refused(
        ["--config", cfg, "export", "ledger", f"--half={half}", "--out", str(tmp_path / "l.xlsx")], capsys
    )
    assert "半年" in err


def test_cli_bad_dates_are_error_lines(cfg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "l.xlsx")
    assert "填表日期" in _refused(
        ["--config", cfg, "export", "ledger", "--out", out, "--date", "yesterday"], capsys
    )
    argv = ["--config", cfg, "visits", "add", "--elder", "E1", "--at", "soon", "--method", "上门探访"]
    assert "探访时间" in _refused([*argv, "--visitor", "王探访"], capsys)


async def test_api_refuses_impossible_months_halves_and_broken_files_with_400(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'register.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    clock = FrozenClock(utc(2026, 11, 20, 2))
    with sessions.begin() as session:
        add_elder(session, "E1", tier="key")
        add_user(session, "陈书记", "admin", now=clock.now())
        token = issue_api_token(session, "陈书记", now=clock.now())
    auth = {"Authorization": f"Bearer {token}"}
    app = build_app(Services(sessions, None, None, clock, lambda: True))  # type: ignore[arg-type]
    app[CARE] = (CareConfig(), "Asia/Shanghai")
    corrupt = _corrupt_xlsx(tmp_path).read_bytes()
    async with TestClient(TestServer(app)) as client:

        async def refused(method: str, path: str, **kw: Any) -> str:
            resp = await client.request(method, path, headers=auth, **kw)
            assert resp.status == 400, (path, resp.status, await resp.text())
            return str((await resp.json())["error"])

        for month in BAD_MONTHS:
            assert "月份" in await refused("GET", f"/api/v1/reports/visit-rate?month={month}")
        for half in BAD_HALVES:
            for what in ("ledger", "visits", "bundle"):
                assert "半年" in await refused("GET", f"/api/v1/exports/{what}?half={half}")
        assert "xlsx" in await refused("POST", "/api/v1/imports?filename=m.xlsx&dry_run=1", data=corrupt)
        assert "xlsx" in await refused("POST", "/api/v1/imports?filename=m.xlsx", data=b"")
    engine.dispose()
