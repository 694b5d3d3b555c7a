"""The notice's forms (渝北民〔2024〕24号 附件1–3) as data: their titles, column labels and section headings,
and the rows of one elder's 附件2 registration form and 附件3 visit records.

Both writers read this module: `hub.care.exports` lays the forms out as xlsx (and writes the half-year bundle,
calling `hub.care.pdf` for the printable copy), `hub.care.pdf` lays the same rows out as PDF. Keeping the
layouts here means the two files of one elder can never disagree, and neither writer imports the other's
vocabulary. The words of the values themselves (categories, tiers, the 附件3 choices) are in `hub.care.vocab`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.care.register import IdAccess, contacts_with_role, responsible_of, show_id
from hub.care.tables import CareService, HelpRecord, HouseholdMember, Visit
from hub.care.visits import CHOICES
from hub.care.vocab import FORM_CATEGORY, TIER_WORDS
from hub.register.models import Elder

# ----------------------------------------------------------------------------------------- titles, headings

LEDGER_TITLE = "渝北区特殊困难老年人关爱服务信息台帐"
LEDGER_NOTE = "说明：对象类型分为独居、空巢、农村留守、计生对象、失能、重度残疾老年人、其他关爱对象。"
# Two-row header: (top label, sub labels). A column without sub labels spans both rows.
LEDGER_HEADER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("序号", ()),
    ("姓名", ()),
    ("性别", ()),
    ("常住地址", ()),
    ("身份证号码", ()),
    ("电话", ()),
    ("亲属情况", ("姓名", "亲属关系", "电话")),
    ("对象类型", ()),
    ("责任主体", ("责任镇街", "责任村（社区）", "责任人", "责任人电话")),
    ("上门探访次数", ()),
    ("解决问题数量", ()),
)
REGISTER_TITLE = "渝北区特殊困难老年人信息登记表"
VISITS_TITLE = "渝北区特殊困难老年人探访关爱服务记录表"
# Section headings of 附件2 and 附件3 (the xlsx copy prints all three, the PDF the last two).
PERSON_SECTION = "一、服务对象基本情况"
HOUSEHOLD_SECTION = "二、家庭基本情况"
SERVICE_SECTION = "二、关爱服务情况"


# ----------------------------------------------------------------------------------------- 附件2 register


def _yn(value: bool | None) -> str:
    return "" if value is None else ("是" if value else "否")


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def register_fields(session: Session, elder: Elder, access: IdAccess) -> list[tuple[str, Any]]:
    """Every 附件2 field of one elder as (label, value), in the form's order."""
    emergency = contacts_with_role(elder, "emergency")
    em = emergency[0] if emergency else None
    home = elder.home
    pension = (
        "无养老保险"
        if elder.pension_monthly is None
        else f"有领取养老保险，每月 {_money(elder.pension_monthly)} 元"
    )
    cats = "、".join(word for key, word in FORM_CATEGORY.items() if key in elder.categories)
    helps = session.scalars(
        select(HelpRecord).where(HelpRecord.elder_id == elder.id).order_by(HelpRecord.id)
    ).all()
    responsible = responsible_of(elder)
    return [
        ("建档日期", elder.filed_on.isoformat() if elder.filed_on else ""),
        ("姓名", elder.name),
        ("性别", elder.sex),
        ("居民身份证号码", show_id(elder.id_number, access)),
        ("联系电话", elder.phone),
        ("紧急联系人", em.name if em else ""),
        ("紧急联系人联系电话", em.phone if em else ""),
        (
            "户籍地址",
            f"{elder.reg_district} 区（县） {elder.reg_street} 乡镇（街道） {elder.reg_community} 村（社区） {elder.reg_address}".strip(),
        ),
        (
            "居住地址",
            f"{home.district} 区（县） {home.street} 乡镇（街道） {home.community} 村（社区） {home.address}".strip(),
        ),
        ("能力程度", elder.ability_level),
        ("曾患病史", elder.medical_history),
        ("经济情况", elder.economy_status),
        ("月可支配收入（元）", _money(elder.monthly_income)),
        ("经济来源", elder.income_source),
        ("对象类别", cats),
        ("残疾证号", elder.disability_cert_no if "重残" in elder.categories else ""),
        ("重点对象/一般对象", TIER_WORDS.get(elder.tier, elder.tier)),
        ("饮水是否安全", _yn(elder.water_safe)),
        ("生活用电是否安全", _yn(elder.power_safe)),
        ("住房是否安全", _yn(elder.housing_safe)),
        ("家庭每月收入（元）", _money(elder.household_income)),
        ("养老保险", pension),
        (
            "社会救助和社会福利补贴",
            f"{elder.subsidy_items} 每月 {_money(elder.subsidy_monthly)} 元" if elder.subsidy_items else "",
        ),
        ("帮扶单位（组织）", "；".join(f"{h.unit_type} {h.unit_name}".strip() for h in helps)),
        ("帮扶责任人", "；".join(h.responsible for h in helps)),
        ("帮扶措施", "；".join(h.measures for h in helps)),
        ("工作人员签字", "；".join(f"{h.worker_signature} {h.signed_on or ''}".strip() for h in helps)),
        ("责任村（社区）责任人", responsible.name if responsible else ""),
    ]


HOUSEHOLD_HEADER = (
    "序号",
    "姓名",
    "性别",
    "居民身份证号码",
    "与户主关系",
    "健康状况",
    "是否为低保对象/特困人员",
    "是否经常探访",
)


def household_rows(session: Session, elder: Elder, access: IdAccess) -> list[list[Any]]:
    """附件2 二、家庭基本情况 rows (户主 first)."""
    members = session.scalars(
        select(HouseholdMember).where(HouseholdMember.elder_id == elder.id).order_by(HouseholdMember.seq)
    ).all()
    return [
        [
            "户主" if m.seq == 1 else m.seq,
            m.name,
            m.sex,
            show_id(m.id_number, access),
            m.relation,
            m.health,
            _yn(m.on_assistance),
            _yn(m.visits_often),
        ]
        for m in members
    ]


VISIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("seq", "探访次数"),
    ("visited_at", "探访日期"),
    ("method", "探访方式"),
    ("household_change", "家庭人口"),
    ("household_delta", "增减人数"),
    ("expression", "表达能力"),
    ("mobility", "行动能力"),
    ("illness", "疾病状况"),
    ("illness_name", "疾病名称"),
    ("mood", "情绪状态"),
    ("gas_safety", "燃气安全"),
    ("water_heating_safety", "水暖安全"),
    ("power_safety", "用电安全"),
    ("personal_hygiene", "个人卫生"),
    ("home_hygiene", "家庭卫生"),
    ("indoor_environment", "室内环境"),
    ("needs", "老年人服务需求"),
    ("suggestions", "实施关爱服务建议"),
    ("problems_solved", "解决问题数量"),
    ("visitor_name", "探访人员（签字）"),
    ("elder_signature", "被探访人（签字）"),
    ("clerk_name", "信息录入人（签字）"),
    ("clerk_signed_at", "签字日期"),
)
SERVICE_HEADER = (
    "关爱次数",
    "关爱日期",
    "关爱服务情况",
    "服务人员签字（盖章）",
    "签字日期",
    "老年人服务满意度评价",
)
assert {k for k, _ in VISIT_COLUMNS} >= set(CHOICES)


def visit_row(visit: Visit, tz: ZoneInfo) -> list[Any]:
    """One visit as the values of `VISIT_COLUMNS` (times as local dates)."""
    out = []
    for key, _ in VISIT_COLUMNS:
        value = getattr(visit, key)
        if isinstance(value, datetime):
            value = value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        out.append("" if value is None else value)
    return out


def service_rows(
    session: Session, elder: Elder, start: datetime, end: datetime, tz: ZoneInfo
) -> list[list[Any]]:
    """附件3 二、关爱服务情况 rows of one elder: the care services on local dates in [start, end)."""
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    rows = session.scalars(
        select(CareService)
        .where(CareService.elder_id == elder.id, CareService.served_on >= first, CareService.served_on < last)
        .order_by(CareService.seq)
    ).all()
    return [
        [
            s.seq,
            s.served_on.isoformat(),
            s.description,
            s.worker_signature,
            s.signed_on.isoformat() if s.signed_on else "",
            s.satisfaction,
        ]
        for s in rows
    ]
