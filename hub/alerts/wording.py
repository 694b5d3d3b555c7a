"""What a user reads about notifications: channel, route, purpose, status and role in Chinese.

The timeline (web page, CLI) and the events the worker writes name a notification with these words, never
with the codes the outbox stores (``twilio_sms``, ``sent``, ``act``), so an SMS and a call read differently
and every line says channel, recipient, result and time.
"""

from __future__ import annotations

from hub.alerts.tables import OutboxMessage
from hub.register.site import CONTACT_ROLE_WORDS

# Channel names (`Notifier.name`) → what the recipient got. A channel not listed reads as its route.
CHANNEL_WORDS = {
    "twilio_sms": "短信（Twilio）",
    "twilio_voice": "语音电话（Twilio）",
    "aliyun_sms": "短信（阿里云）",
    "aliyun_voice": "语音电话（阿里云）",
    "tencent_sms": "短信（腾讯云）",
    "tencent_voice": "语音电话（腾讯云）",
    "gsm_sms": "短信猫",
    "gsm_voice": "短信猫语音电话",
    "wecom": "企业微信",
    "dingtalk": "钉钉",
    "webhook": "推送接口",
    "http": "推送接口",
    "log": "平台日志（未送达任何人）",
}
ROUTE_WORDS = {"sms": "短信", "voice": "语音电话", "robot": "群机器人"}
PURPOSE_WORDS = {
    "act": "请处置",
    "fyi": "告知",
    "reply": "回复",
    "info": "通知",
    "check": "询问老人",
    "system": "系统告警",
}
STATUS_WORDS = {"pending": "待发送", "sent": "已发送", "failed": "发送失败", "cancelled": "已取消"}
# Delivery reports (Twilio's MessageStatus/CallStatus words; other providers' codes read as 回执 <code>).
PROVIDER_WORDS = {
    "queued": "排队中",
    "accepted": "已受理",
    "sending": "发送中",
    "sent": "已发出",
    "delivered": "已送达",
    "undelivered": "未送达",
    "failed": "失败",
    "fail": "失败",
    "read": "已读",
    "initiated": "呼叫中",
    "ringing": "振铃中",
    "in-progress": "通话中",
    "completed": "已接通",
    "busy": "占线",
    "no-answer": "无人接听",
    "canceled": "已取消",
}
# The escalation's recipients: the register's contact roles, then the duty lines.
ROLE_WORDS = CONTACT_ROLE_WORDS | {
    "family": "家属",
    "street": "街道值班",
    "district": "区值班",
    "duty": "值班人员",
    "maintenance": "设备维护",
    "elder": "老人本人",
    "group": "值班群",
}


def channel_word(channel: str, route: str = "") -> str:
    """The channel as a user names it ("短信猫"); an unlisted channel reads as its route (短信/语音电话)."""
    return CHANNEL_WORDS.get(channel) or ROUTE_WORDS.get(route, "其他渠道")


def route_word(route: str) -> str:
    """短信 / 语音电话 / 群机器人."""
    return ROUTE_WORDS.get(route, "其他渠道")


def provider_word(report: str) -> str:
    """A provider's delivery report in words: "DELIVERED" → 已送达, "FAIL 15" → 失败 15, "按键1" as it is."""
    head, _, rest = report.partition(" ")
    word = PROVIDER_WORDS.get(head.lower())
    if word is not None:
        return f"{word} {rest}" if rest else word
    return report if not any("a" <= c.lower() <= "z" for c in report) else f"回执 {report}"


def result_word(status: str, provider_status: str = "") -> str:
    """The outcome of one message: the outbox state, and the provider's delivery report when there is one."""
    text = STATUS_WORDS.get(status, "状态未知")
    if provider_status:
        text += f"·{provider_word(provider_status)}"
    return text


def notification_words(row: OutboxMessage) -> dict[str, str]:
    """One outbox row in words: route, channel, recipient, purpose, result, its time and a one-line summary.

    The summary leaves out the time (the page shows it in the district's zone) and the recipient's address
    (the caller masks it as the reader may see it).
    """
    at = row.sent_at or row.created_at
    route = route_word(row.route)
    via = channel_word(row.sent_via, row.route) if row.sent_via else route
    who = row.name or "（未具名）"
    role = ROLE_WORDS.get(row.role, "")
    result = result_word(row.status, row.provider_status)
    purpose = PURPOSE_WORDS.get(row.purpose, "通知")
    summary = f"{route}·{via} → {who}{f'（{role}）' if role else ''}，{purpose}：{result}"
    return {
        "route_zh": route,
        "channel_zh": via,
        "role_zh": role,
        "purpose_zh": purpose,
        "result_zh": result,
        "at": at.isoformat() if at else "",
        "summary": summary,
    }


def notified_detail(name: str, role: str, route: str, channel: str, purpose: str) -> str:
    """The timeline event of a sent message: "李娜（探访人员）：短信·短信猫 已发送（请处置）"."""
    role_text = ROLE_WORDS.get(role, "")
    who = f"{name}（{role_text}）" if role_text else name
    return f"{who}：{route_word(route)}·{channel_word(channel, route)} 已发送（{PURPOSE_WORDS.get(purpose, '通知')}）"
