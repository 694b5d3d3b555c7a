"""Message kinds and their named values, for providers that only send pre-approved templates.

Domestic SMS and voice providers (Aliyun, Tencent Cloud) never send free text: each message the hub sends
is one of `MESSAGE_KINDS`, and the district's config maps every kind to an approved template and says which
of the hub's named values (`PARAM_NAMES`) fill its variables. The outbox row carries the kind and the values
beside the free text, so a template channel and a free-text channel can stand in one fallback chain.
"""

from __future__ import annotations

from hub.alerts import messages
from hub.alerts.policy import PRESS_KINDS

# Every kind of message the hub sends, with what it is (for errors and docs).
MESSAGE_KINDS: dict[str, str] = {
    "sos": "紧急呼叫（SOS）：请前往处置",
    "alert": "其他老人告警（无活动、跌倒、燃气等）：请前往处置",
    "device": "设备告警：请运维检修",
    "exhausted": "升级链无人接单：通知值班",
    "press": "再次按下紧急按钮",
    "check": "询问老人是否平安",
    "fyi": "告知亲属：已通知探访联系人",
    "resolved": "告知亲属：告警已处理",
    "reminder": "探访任务提醒",
    "reply": "回复短信的答复（如接单确认）",
    "system": "平台自身告警（给区值班）",
}
# The kinds that go out as a call: a voice channel needs a template for each of these only.
VOICE_KINDS = ("sos", "alert", "device", "exhausted", "press", "check")

# The hub's named values a template variable may take.
PARAM_NAMES: dict[str, str] = {
    "elder": "老人姓名",
    "kind": "告警类别（中文）",
    "time": "告警时间（如 11月30日14:05）",
    "address": "地址",
    "detail": "告警说明",
    "code": "告警编号（回复用，如 A37）",
    "presses": "第几次按下",
    "responder": "接单人",
    "outcome": "处理结果",
    "device": "设备编号",
    "text": "完整消息正文（变量长度限制下会被截断）",
}


def act_kind(alert_kind: str, alert_class: str) -> str:
    """The message kind of a "please act" message about an alert of `alert_kind`/`alert_class`."""
    if alert_class == "device":
        return "device"
    return "sos" if alert_kind in PRESS_KINDS else "alert"


def alert_params(facts: messages.AlertFacts, tz: str = "Asia/Shanghai", **extra: object) -> dict[str, str]:
    """The named values of a message about one alert (plus `extra`, e.g. presses=3); times in `tz`."""
    return {
        "elder": facts.elder,
        "kind": messages.KIND_NAMES.get(facts.kind, facts.kind),
        "time": messages.when_text(facts.at, tz),
        "address": facts.address,
        "detail": facts.explanation,
        "code": facts.code,
        **{key: str(value) for key, value in extra.items()},
    }
