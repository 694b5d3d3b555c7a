"""One alert vocabulary: every kind a rule can raise reads as its Chinese name in SMS, calls and on the board."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.alerts import messages
from hub.app import ConfigAlerts
from hub.rules.engine import default_rules
from hub.rules.kinds import ALERT_KINDS, kind_name
from tests.web.conftest import Api

TZ = "Asia/Shanghai"


def raised_kinds() -> set[str]:
    """Every kind the hub can raise, from the declarations of the rules and of the binding check."""
    kinds: set[str] = set(ConfigAlerts.kinds)
    for rule in default_rules(TZ):
        assert rule.kinds, f"rule {rule.name} declares no kinds"
        kinds |= rule.kinds
    return kinds


RAISED = sorted(raised_kinds())


def test_the_rules_declare_the_kinds_the_issue_names() -> None:
    # A guard on the enumeration itself: if it came back short the tests below would prove little.
    assert {
        "quiet_gap",
        "morning_check",
        "routine_late",
        "continuous_flow",
        "device_offline",
        "low_water_day",
        "away_overdue",
        "vital_heart_rate",
        "sos",
        "device_config",
    } <= set(RAISED)


@pytest.mark.parametrize("kind", RAISED)
def test_every_raised_kind_has_a_chinese_name_in_sms_and_voice(kind: str) -> None:
    assert kind in ALERT_KINDS, f"{kind} has no Chinese name in hub/rules/kinds.py"
    name = kind_name(kind)
    facts = messages.AlertFacts(
        12,
        kind,
        "王秀英",
        "紫薇路18号3栋401",
        datetime(2026, 11, 28, 6, 5, tzinfo=UTC),
        "自 06:05 起未见活动",
    )
    texts = {
        "act": messages.act_text(facts, TZ, guidance=True),
        "fyi": messages.fyi_open_text(facts, TZ),
        "voice": messages.voice_text(facts, guidance=True),
        "exhausted": messages.exhausted_text(facts, TZ),
        "exhausted_voice": messages.exhausted_voice(facts),
        "press": messages.press_text(facts, TZ, presses=2, at=facts.at, responder=""),
        "press_voice": messages.press_voice(facts, presses=2, responder=""),
    }
    for what, text in texts.items():
        assert name in text, f"{what}: {text}"
        assert kind not in text, f"{what} shows the code: {text}"
    assert texts["act"].startswith(f"【居家监护】王秀英{name}告警")


def test_a_kind_nobody_named_reads_as_other_never_as_its_code() -> None:
    facts = messages.AlertFacts(
        3, "new_kind_x", "王秀英", "紫薇路18号", datetime(2026, 11, 28, tzinfo=UTC), "测试"
    )
    text = messages.act_text(facts, TZ, guidance=False)
    assert "new_kind_x" not in text and "其他告警" in text


async def test_the_board_receives_the_vocabulary_from_the_api(api: Api) -> None:
    async with api.client.get("/api/v1/alerts/kinds", headers=api.auth("李娜")) as resp:
        assert resp.status == 200
        served = await resp.json()
    for kind in RAISED:
        assert served[kind]["name"] == kind_name(kind)
        assert served[kind]["about"]
    async with api.client.get("/api/v1/alerts/kinds") as resp:
        assert resp.status == 401
