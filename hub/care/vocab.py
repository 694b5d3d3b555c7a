"""The notice's official words (渝北民〔2024〕24号 and its 附件1–3): the UI and export vocabulary.

The register stores the seven categories under the short keys the site file already uses (`CATEGORIES`);
the ledger (附件1) shows them with the notice's 对象类型 words (`LEDGER_CATEGORY`), the registration form
(附件2) with its 对象类别 words (`FORM_CATEGORY`).
"""

from __future__ import annotations

# Stored category keys (the site loader's `hub.register.site.CATEGORIES`, in the notice's order).
CATEGORIES = ("独居", "空巢", "农村留守", "失能", "重残", "计生特殊家庭", "其他")

# 附件1 说明: 对象类型分为独居、空巢、农村留守、计生对象、失能、重度残疾老年人、其他关爱对象 (in that order).
LEDGER_CATEGORY = {
    "独居": "独居",
    "空巢": "空巢",
    "农村留守": "农村留守",
    "计生特殊家庭": "计生对象",
    "失能": "失能",
    "重残": "重度残疾老年人",
    "其他": "其他关爱对象",
}
LEDGER_ORDER = ("独居", "空巢", "农村留守", "计生特殊家庭", "失能", "重残", "其他")

# 附件2 对象类别 check boxes.
FORM_CATEGORY = {
    "独居": "独居老年人",
    "空巢": "空巢老年人",
    "农村留守": "留守老年人",
    "失能": "失能老年人",
    "重残": "重残老年人",
    "计生特殊家庭": "计划生育特殊家庭老年人",
    "其他": "其他关爱对象",
}

# Words an import may use for a category, mapped to the stored key.
CATEGORY_ALIASES: dict[str, str] = {k: k for k in CATEGORIES}
CATEGORY_ALIASES.update({v: k for k, v in LEDGER_CATEGORY.items()})
CATEGORY_ALIASES.update({v: k for k, v in FORM_CATEGORY.items()})
CATEGORY_ALIASES.update({"留守": "农村留守", "计生": "计生特殊家庭", "重度残疾": "重残"})

TIER_WORDS = {"key": "重点对象", "general": "一般对象"}
TIER_BY_WORD = {v: k for k, v in TIER_WORDS.items()}

# 《老年人能力评估规范》 levels; every level below 能力完好 counts as 失能.
ABILITY_LEVELS = ("能力完好", "轻度失能", "中度失能", "重度失能", "完全失能")

ECONOMY_STATUS = ("特困人员", "低保、低保边缘", "")

# 附件2 四、帮扶单位（组织）.
HELP_UNITS = (
    "党政机关、群团组织",
    "乡镇（街道）、村（居）民委员会",
    "企业",
    "社会组织",
    "专业社会工作",
    "志愿者",
    "其他",
)

# 附件3.
VISIT_METHODS = ("电话问候", "上门探访", "互联网音（视）频探访", "其他")
HOME_VISIT = "上门探访"
HOUSEHOLD_CHANGE = ("无变化", "增加", "减少")
TREND = ("无变化", "较好", "较差")  # 表达/行动能力, 情绪, 卫生, 室内环境
ILLNESS = ("无变化", "严重", "转好")
SAFETY = ("安全", "较安全", "不安全")
SATISFACTION = ("非常满意", "满意", "基本满意", "不满意")

CONSENT_KINDS = {"devices": "智能设备使用", "sharing": "与紧急联系人共享日常生活信息"}
TASK_KINDS = {"visit": "定期探访", "alert": "告警上门核实", "review": "半年信息复核"}
TASK_STATES = {"open": "待办", "done": "已完成", "cancelled": "已取消"}
