"""Outcomes of resolved alerts, the false-alarm report, and rules that tighten themselves per home after
repeated false alarms (recorded, reversible, read by the rules at refresh). Real register, frozen clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.alerts import lifecycle
from hub.alerts.adjust import revert
from hub.alerts.errors import AlertError
from hub.alerts.settings import TightenConfig
from hub.care.reports import false_alarms
from hub.care.settings import CareConfig
from hub.cli import main
from hub.models import AlertCandidate, Severity
from hub.register.adjustments import current_factor
from hub.register.models import Alert, Home, RuleAdjustment
from hub.rules.persistence import load_profiles
from hub.web.api import build_app
from hub.web.auth import add_user, issue_api_token
from hub.web.care_api import CARE
from hub.web.services import Services
from tests.alerts.world import World

TZ = ZoneInfo("Asia/Shanghai")


def raise_and_resolve(
    w: World, kind: str, outcome: str, *, tighten: TightenConfig | None = None, check_first: bool = True
) -> int:
    cand = AlertCandidate(
        "H001", kind, Severity.URGENT, w.clock.now(), "H001-sos", "已 5 小时 无活动", check_first=check_first
    )
    [change] = w.writer.commit([], [cand], {}, w.clock.now())
    with w.sessions.begin() as s:
        lifecycle.resolve(
            s, change.alert_id, by="李娜", outcome=outcome, notes="", at=w.clock.now(), tighten=tighten
        )
    w.clock.advance(timedelta(hours=6))
    return change.alert_id


def outcome_of(w: World, alert_id: int) -> str:
    with w.sessions() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        return alert.outcome


def factor(w: World, kind: str) -> float:
    with w.sessions() as s:
        home_id = s.scalars(select(Home.id)).one()
        return current_factor(s, home_id, kind)


def test_every_resolve_carries_an_outcome_from_the_vocabulary(tmp_path: Path, register_url: str) -> None:
    w = World(tmp_path, register_url)
    assert outcome_of(w, raise_and_resolve(w, "quiet_gap", "visit_ok")) == "visit_ok"
    assert outcome_of(w, raise_and_resolve(w, "quiet_gap", "确有险情")) == "real_danger"
    free = raise_and_resolve(w, "quiet_gap", "已上门，老人误按")  # today's free text keeps working
    assert outcome_of(w, free) == "other"
    assert w.events(free)[-1] == "resolved"
    fyi = [m.text for m in w.outbox(purpose="fyi") if "已处理" in m.text]
    assert any("探访确认无事" in t for t in fyi) and any("已上门，老人误按" in t for t in fyi)


def test_repeated_false_alarms_tighten_the_rule_for_that_home_within_limits(tmp_path: Path) -> None:
    w = World(tmp_path)
    limits = TightenConfig(min_count=3, window_days=30, step=0.5, max_factor=2.0)
    raise_and_resolve(w, "quiet_gap", "real_danger", tighten=limits)  # a real danger is no false alarm
    raise_and_resolve(w, "quiet_gap", "elder_ok", tighten=limits)
    raise_and_resolve(w, "quiet_gap", "visit_ok", tighten=limits)
    assert factor(w, "quiet_gap") == 1.0
    third = raise_and_resolve(w, "quiet_gap", "visit_ok", tighten=limits)
    assert factor(w, "quiet_gap") == 1.5
    assert "rule_tightened" in w.events(third)
    assert factor(w, "inactivity") == 1.0  # only the rule that raised the false alarms
    for _ in range(6):  # counted afresh after each change; never beyond max_factor
        raise_and_resolve(w, "quiet_gap", "elder_ok", tighten=limits)
    assert factor(w, "quiet_gap") == 2.0
    with w.sessions() as s:
        rows = s.scalars(select(RuleAdjustment).order_by(RuleAdjustment.id)).all()
        assert [(r.previous, r.factor, r.by) for r in rows] == [
            (1.0, 1.5, "系统自动"),
            (1.5, 2.0, "系统自动"),
        ]
        assert "30天内误报3次" in rows[0].reason
        # The rules read the factor at their refresh, per home and kind.
        assert load_profiles(s)["H001"].factor("quiet_gap") == 2.0
        assert load_profiles(s)["H001"].factor("inactivity") == 1.0
        last_id = rows[-1].id
    with w.sessions.begin() as s:
        revert(s, last_id, by="王主任", at=w.clock.now())
    assert factor(w, "quiet_gap") == 1.5  # back to the one before
    with w.sessions.begin() as s, pytest.raises(AlertError, match="已撤销"):
        revert(s, last_id, by="王主任", at=w.clock.now())


def test_immediate_alerts_never_tighten_anything(tmp_path: Path) -> None:
    w = World(tmp_path)
    for _ in range(5):  # an SOS pressed by mistake again and again: nothing to tighten
        raise_and_resolve(w, "sos", "visit_ok", check_first=False)
    assert factor(w, "sos") == 1.0


def test_false_alarms_older_than_the_window_do_not_count(tmp_path: Path) -> None:
    w = World(tmp_path)
    limits = TightenConfig(min_count=2, window_days=30)
    raise_and_resolve(w, "quiet_gap", "elder_ok", tighten=limits)
    w.clock.advance(timedelta(days=31))
    raise_and_resolve(w, "quiet_gap", "elder_ok", tighten=limits)
    assert factor(w, "quiet_gap") == 1.0


def test_the_monthly_report_gives_the_false_alarm_rate_per_rule_and_home(tmp_path: Path) -> None:
    w = World(tmp_path)
    raise_and_resolve(w, "quiet_gap", "elder_ok")
    raise_and_resolve(w, "quiet_gap", "real_danger")
    raise_and_resolve(w, "morning_check", "visit_ok")
    with w.sessions() as s:
        report = false_alarms(s, "2026-11", TZ)
        assert false_alarms(s, "2026-10", TZ)["by_kind"] == []
    assert report["total"] | {"by_outcome": None} == {
        "resolved": 3,
        "false_alarms": 2,
        "rate": 0.667,
        "by_outcome": None,
    }
    by_kind = {r["kind"]: (r["resolved"], r["false_alarms"], r["rate"]) for r in report["by_kind"]}
    assert by_kind == {"quiet_gap": (2, 1, 0.5), "morning_check": (1, 1, 1.0)}
    assert report["by_home"][0]["home"] == "H001"


def _config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "hub.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[register]\nurl = "{url}"\n', encoding="utf-8")
    return str(path)


def test_the_command_line_reports_lists_and_reverts(
    tmp_path: Path, register_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    w = World(tmp_path, register_url)
    for _ in range(3):
        raise_and_resolve(w, "quiet_gap", "elder_ok")
    cfg = _config(tmp_path, register_url)
    capsys.readouterr()
    assert main(["--config", cfg, "report", "false-alarms", "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert "误报率" in out and "异常静默" in out and "100%" in out
    assert main(["--config", cfg, "rules", "adjustments", "list"]) == 0
    assert "1→1.25" in capsys.readouterr().out
    with w.sessions() as s:
        adjustment = s.scalars(select(RuleAdjustment.id)).one()
    assert main(["--config", cfg, "rules", "adjustments", "revert", str(adjustment), "--by", "王主任"]) == 0
    assert factor(w, "quiet_gap") == 1.0
    assert main(["--config", cfg, "rules", "adjustments", "revert", str(adjustment), "--by", "王主任"]) == 1
    assert "已撤销" in capsys.readouterr().out
    assert main(["--config", cfg, "report", "false-alarms", "--month", "2026-13"]) != 0


async def test_the_api_resolves_with_an_outcome_reports_and_reverts(
    tmp_path: Path, register_url: str
) -> None:
    w = World(tmp_path, register_url)
    with w.sessions.begin() as s:
        add_user(s, "陈书记", "admin", now=w.clock.now())
        token = issue_api_token(s, "陈书记", now=w.clock.now())
    auth = {"Authorization": f"Bearer {token}"}
    app = build_app(Services(w.sessions, None, None, w.clock, lambda: True))  # type: ignore[arg-type]
    app[CARE] = (CareConfig(), "Asia/Shanghai")
    async with TestClient(TestServer(app)) as client:

        async def call(method: str, path: str, status: int = 200, **kw: Any) -> Any:
            resp = await client.request(method, path, headers=auth, **kw)
            assert resp.status == status, await resp.text()
            return await resp.json()

        for _ in range(3):
            cand = AlertCandidate(
                "H001", "quiet_gap", Severity.URGENT, w.clock.now(), "H001-sos", "静默", check_first=True
            )
            [change] = w.writer.commit([], [cand], {}, w.clock.now())
            await call("POST", f"/api/v1/alerts/{change.alert_id}/resolve", json={"outcome": "elder_ok"})
            w.clock.advance(timedelta(hours=6))
        report = await call("GET", "/api/v1/reports/false-alarms?month=2026-11")
        assert report["by_kind"][0] | {"by_outcome": None} == {
            "kind": "quiet_gap",
            "kind_zh": "异常静默",
            "resolved": 3,
            "false_alarms": 3,
            "rate": 1.0,
            "by_outcome": None,
        }
        assert report["by_kind"][0]["by_outcome"] == {"老人自报平安": 3}
        bad = await call("GET", "/api/v1/reports/false-alarms?month=2026-13", 400)
        assert "月份" in bad["error"]
        [adjustment] = await call("GET", "/api/v1/rules/adjustments?home=H001")
        assert (adjustment["kind"], adjustment["factor"], adjustment["reverted_at"]) == (
            "quiet_gap",
            1.25,
            None,
        )
        done = await call("POST", f"/api/v1/rules/adjustments/{adjustment['id']}/revert", json={})
        assert done["reverted_by"] == "陈书记"
        await call("POST", f"/api/v1/rules/adjustments/{adjustment['id']}/revert", 409, json={})
        await call("POST", "/api/v1/rules/adjustments/999/revert", 404, json={})
