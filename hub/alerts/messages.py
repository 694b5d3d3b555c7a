"""Short Chinese message templates that fit SMS segments.

A Chinese SMS is UCS2: 70 characters in one segment, 67 per part when concatenated. Messages for those who
must act aim for two parts (`MAX_CHARS`); the free-text parts (address, explanation) are shortened first,
never the elder's name, the time or the way to accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

MAX_CHARS = 134  # two concatenated UCS2 segments

KIND_NAMES = {
    "sos": "紧急呼叫",
    "fall": "跌倒",
    "gas": "燃气泄漏",
    "smoke": "烟雾火情",
    "leak": "漏水",
    "inactivity": "长时间无活动",
    "offline": "设备离线",
    "battery": "电量低",
    "quiet_gap": "异常静默",
    "morning_check": "早间未见活动",
    "routine_late": "作息异常",
    "water_no_use": "长时间未用水",
    "low_water_day": "当日用水偏少",
    "continuous_flow": "持续流水",
    "away_overdue": "外出未归",
    "outing_overdue": "外出超时未归",
    "safe_zone_night": "夜间离开安全区域",
    "safe_zone_long": "离开安全区域过久",
    "safe_zone_datum": "安全区域坐标系不符",
}


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What every message about one alert may say."""

    alert_id: int
    kind: str
    elder: str  # elder name(s)
    address: str
    at: datetime
    explanation: str

    @property
    def code(self) -> str:
        """The short code a reply names ("1 A37")."""
        return alert_code(self.alert_id)


def alert_code(alert_id: int) -> str:
    """Short alert code for SMS replies."""
    return f"A{alert_id}"


def _when(at: datetime, tz: str) -> str:
    local = at.astimezone(ZoneInfo(tz))
    return f"{local.month}月{local.day}日{local:%H:%M}"


def when_text(at: datetime, tz: str) -> str:
    """The local time as the messages say it ("11月30日14:05"); template channels fill it in too."""
    return _when(at, tz)


def _fit(head: str, middle: str, tail: str, limit: int = MAX_CHARS) -> str:
    room = limit - len(head) - len(tail)
    if len(middle) > room:
        middle = middle[: max(room - 1, 0)] + "…"
    return head + middle + tail


def act_text(facts: AlertFacts, tz: str, *, guidance: bool) -> str:
    """To someone who must go: who, where, what, when, why, and how to accept."""
    kind = KIND_NAMES.get(facts.kind, facts.kind)
    head = f"【居家监护】{facts.elder}{kind}告警 {_when(facts.at, tz)}："
    tail = "。"
    if guidance:
        tail += "危及生命请先拨120，火情燃气拨119/110。"
    tail += f"回复1 {facts.code}接单"
    return _fit(head, f"{facts.explanation}，地址{facts.address}", tail)


def fyi_open_text(facts: AlertFacts, tz: str) -> str:
    """FYI to relatives on open: someone is on it; no action asked."""
    kind = KIND_NAMES.get(facts.kind, facts.kind)
    head = f"【居家监护】告知：{facts.elder} {_when(facts.at, tz)} {kind}告警（"
    return _fit(head, facts.explanation, f"），已通知探访联系人处置。编号{facts.code}")


def resolved_text(facts: AlertFacts, outcome: str, notes: str) -> str:
    """FYI to relatives (and the notified) on resolve: the outcome."""
    head = f"【居家监护】{facts.elder}的告警{facts.code}已处理：{outcome}"
    return _fit(head, f"。{notes}" if notes else "", "")


def voice_text(facts: AlertFacts, *, guidance: bool) -> str:
    """What the call says (zh-CN text to speech); the keypress is asked for by the Gather."""
    kind = KIND_NAMES.get(facts.kind, facts.kind)
    text = f"居家监护紧急通知。{facts.elder}，{kind}告警。{facts.explanation}。地址：{facts.address}。"
    if guidance:
        text += "危及生命请先拨打120。"
    return text + "您能前往处置请按1。"


def device_text(facts: AlertFacts, tz: str, device: str) -> str:
    """To maintenance: a device needs attention."""
    head = f"【设备维护】{_when(facts.at, tz)} {facts.address} 设备{device}："
    return _fit(head, facts.explanation, f"。回复1 {facts.code}接单")


def accepted_reply(facts: AlertFacts, by: str) -> str:
    """Answer to the person whose reply accepted the alert."""
    return f"已确认由{by}接单{facts.code}（{facts.elder}，{facts.address}）。处理后请在系统登记结果。"


def exhausted_text(facts: AlertFacts, tz: str) -> str:
    """To the duty line once the chain ran out: nobody accepted; contact the family, call 120/110, follow up."""
    kind = KIND_NAMES.get(facts.kind, facts.kind)
    head = f"【居家监护】无人接单！{facts.elder}{kind}告警 {_when(facts.at, tz)}，升级链已全部通知无人接单："
    tail = f"。请立即联系家属，必要时拨120/110，并跟进处置。回复1 {facts.code}接单"
    return _fit(head, f"地址{facts.address}", tail)


def exhausted_voice(facts: AlertFacts) -> str:
    """The duty line's call once the chain ran out."""
    kind = KIND_NAMES.get(facts.kind, facts.kind)
    return (
        f"居家监护紧急通知，无人接单。{facts.elder}，{kind}告警，所有联系人均未接单。地址：{facts.address}。"
        "请立即联系家属，必要时拨打120或110，并跟进处置。您能负责处置请按1。"
    )


def press_text(facts: AlertFacts, tz: str, *, presses: int, at: datetime, responder: str) -> str:
    """A new press of the button on an alert that is already active: the Nth press, and who is on it."""
    kind = KIND_NAMES.get(facts.kind, facts.kind)
    head = f"【居家监护】{facts.elder}再次{kind}（第{presses}次按下）{_when(at, tz)}："
    state = f"已由{responder}接单，请尽快到场" if responder else "仍无人接单"
    return _fit(head, f"地址{facts.address}", f"。{state}。回复1 {facts.code}接单")


def press_voice(facts: AlertFacts, *, presses: int, responder: str) -> str:
    """The call for a new press."""
    kind = KIND_NAMES.get(facts.kind, facts.kind)
    state = f"已由{responder}接单，请尽快到场。" if responder else "仍无人接单。"
    return (
        f"居家监护紧急通知。{facts.elder}再次{kind}，第{presses}次按下。地址：{facts.address}。{state}"
        "您能前往处置请按1。"
    )


def check_text(facts: AlertFacts, tz: str) -> str:
    """The SMS asking the elder whether they are fine ("如平安请回复1")."""
    head = f"【居家监护】{facts.elder}您好，平台发现您家{_when(facts.at, tz)}起："
    return _fit(head, facts.explanation, "。如您平安请回复1，需要帮助请回复2。")


def check_voice(facts: AlertFacts) -> str:
    """The wellbeing call to the elder (zh-CN text to speech); the keypress is asked for by the Gather."""
    return (
        f"您好，这里是社区居家监护平台。{facts.elder}您好，平台发现您家{facts.explanation}。"
        "如您平安请按1；需要帮助请按2，我们将通知探访联系人。"
    )
