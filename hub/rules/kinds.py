"""The alert vocabulary: every alert kind the hub can raise, with its Chinese name and a short description.

Defined once, beside the rules that raise the kinds (each rule declares the kinds it may raise in `kinds`).
SMS and voice texts (`hub.alerts.messages`), reports and the web page (through ``GET /api/v1/alerts/kinds``)
all name a kind through `kind_name`, so a duty officer never reads a code such as ``quiet_gap``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KindText:
    """How a user reads one alert kind: a short name for SMS and cards, and one sentence about it."""

    name: str
    about: str


ALERT_KINDS: dict[str, KindText] = {
    # Immediate: the reading itself means danger (hub/rules/immediate.py).
    "sos": KindText("紧急呼叫", "老人按下紧急呼叫按钮"),
    "fall": KindText("跌倒", "跌倒检测设备报告老人跌倒"),
    "gas": KindText("燃气泄漏", "燃气报警器报警"),
    "smoke": KindText("烟雾火情", "烟雾报警器报警"),
    "leak": KindText("漏水", "水浸传感器报告漏水"),
    # Sign of life (hub/rules/inactivity.py, routine.py, water.py).
    "inactivity": KindText("长时间无活动", "超过该类对象规定时长未见任何活动"),
    "inactivity_unknown": KindText("无法判断活动", "提供活动信号的设备故障，无法判断老人是否活动"),
    "morning_check": KindText("早间未见活动", "到早间检查时间仍未见当天活动"),
    "routine_late": KindText("作息异常", "过了平日起床活动的时间仍未见活动"),
    "quiet_gap": KindText("异常静默", "在平日有活动的时段异常长时间无活动"),
    "away_overdue": KindText("外出未归", "出门后超过平日外出时长仍未回家"),
    "outing_overdue": KindText(
        "外出超时未归", "出门后超过此时段平日外出时长、到平日就寝时间仍未回家，先电话询问老人"
    ),
    "water_no_use": KindText("长时间未用水", "以用水为活动信号的住户长时间未用水"),
    "low_water_day": KindText("当日用水偏少", "昨日用水量远低于平日"),
    "continuous_flow": KindText("持续流水", "长时间持续用水，可能忘关水龙头或管道漏水"),
    # The elder's 安全区域, from a wearable's positions (hub/rules/geofence.py).
    "safe_zone_night": KindText("夜间离开安全区域", "夜间（22:00–06:00）佩戴设备的位置在安全区域之外"),
    "safe_zone_long": KindText("离开安全区域过久", "离开安全区域的时长远超平日外出"),
    "safe_zone_datum": KindText("安全区域坐标系不符", "安全区域与设备位置的坐标系不同，无法判断"),
    # Vital signs out of bounds (hub/rules/vitals.py).
    "vital_heart_rate": KindText("心率异常", "心率连续超出正常范围"),
    "vital_spo2": KindText("血氧偏低", "血氧连续低于正常范围"),
    "vital_bp_systolic": KindText("收缩压异常", "收缩压连续超出正常范围"),
    "vital_bp_diastolic": KindText("舒张压异常", "舒张压连续超出正常范围"),
    "vital_body_temp": KindText("体温异常", "体温连续超出正常范围"),
    # Devices, for maintenance (hub/rules/device_health.py; device_config from the hub's binding check).
    "device_offline": KindText("设备离线", "设备报告离线超过宽限时间"),
    "device_silent": KindText("设备未上报", "设备超过应上报间隔未上报"),
    "device_clock": KindText("设备时钟异常", "设备报告的时间与平台不符"),
    "battery_low": KindText("电量低", "设备电池电量低，需要更换"),
    "device_config": KindText("设备配置错误", "设备型号或设置有误，消息无法解析"),
}

UNKNOWN_KIND = KindText("其他告警", "未登记名称的告警类型")


def kind_text(kind: str) -> KindText:
    """The name and description of `kind`; a kind nobody named yet reads "其他告警", never its code."""
    return ALERT_KINDS.get(kind, UNKNOWN_KIND)


def kind_name(kind: str) -> str:
    """The Chinese name of `kind` ("quiet_gap" → "异常静默")."""
    return kind_text(kind).name


def vocabulary() -> dict[str, dict[str, str]]:
    """The whole vocabulary as JSON-able data (what the web page receives)."""
    return {kind: {"name": t.name, "about": t.about} for kind, t in ALERT_KINDS.items()}
