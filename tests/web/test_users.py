"""Users for the district admin: list, add, disable (audited) from the page's API and the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.test_cli import run_cli
from tests.web.conftest import Api


async def _call(api: Api, user: str, method: str, path: str, status: int, body: Any = None) -> Any:
    async with api.client.request(method, path, json=body, headers=api.auth(user)) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def test_the_admin_adds_and_disables_a_user_whose_token_then_stops_working(api: Api) -> None:
    made = await _call(
        api,
        "区管理员",
        "POST",
        "/api/v1/users",
        201,
        {"name": "新探访员", "role": "visitor", "password": "a long password", "phone": "13900000001"},
    )
    assert made["role_zh"] == "探访人员" and made["disabled"] is False and made["phone"] == "139****0001"
    listed = {u["name"]: u for u in await _call(api, "区管理员", "GET", "/api/v1/users", 200)}
    assert "新探访员" in listed and listed["区管理员"]["role_zh"] == "区民政局管理员"

    # 李娜 can read tasks now; once disabled, her token is refused at once.
    await _call(api, "李娜", "GET", "/api/v1/tasks", 200)
    disabled = await _call(api, "区管理员", "POST", "/api/v1/users/李娜/disable", 200)
    assert disabled["disabled"] is True
    async with api.client.get("/api/v1/tasks", headers=api.auth("李娜")) as resp:
        assert resp.status == 401
    await _call(api, "区管理员", "POST", "/api/v1/users/李娜/enable", 200)
    await _call(api, "李娜", "GET", "/api/v1/tasks", 200)

    audit = await _call(api, "区管理员", "GET", "/api/v1/audit?limit=20", 200)
    done = [(a["action"], a["actor"], a["target"]) for a in audit if a["action"].startswith("user_")]
    assert ("user_add", "区管理员", "新探访员") in done
    assert ("user_disable", "区管理员", "李娜") in done and ("user_enable", "区管理员", "李娜") in done


async def test_bad_requests_are_refused_with_a_reason(api: Api) -> None:
    error = await _call(api, "区管理员", "POST", "/api/v1/users/区管理员/disable", 409)
    assert "不能停用自己" in error["error"]
    await _call(api, "区管理员", "POST", "/api/v1/users/无此人/disable", 404)
    error = await _call(api, "区管理员", "POST", "/api/v1/users", 400, {"name": "某亲属", "role": "relative"})
    assert "--elder" in error["error"] or "老人" in error["error"]
    await _call(api, "双龙湖街道干部", "GET", "/api/v1/users", 403)
    await _call(api, "双龙湖街道干部", "POST", "/api/v1/users/李娜/disable", 403)


def test_the_command_line_disables_and_enables_a_user(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    assert run_cli(config, "user", "add", "维护员", "--role", "maintenance", "--no-password").returncode == 0
    proc = run_cli(config, "user", "disable", "维护员")
    assert proc.returncode == 0 and "已停用用户 维护员" in proc.stdout, proc.stderr
    assert "停用" in run_cli(config, "user", "list").stdout
    proc = run_cli(config, "audit", "list", "--action", "user_disable", "--json")
    assert '"target": "维护员"' in proc.stdout and '"actor": "命令行"' in proc.stdout
    assert run_cli(config, "user", "enable", "维护员").returncode == 0
    proc = run_cli(config, "user", "disable", "无此人")
    assert proc.returncode != 0 and "没有用户 无此人" in proc.stderr
