"""Importing survey lists: row/field errors, good rows land, idempotent on the ID number, other lists."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.care.importer import import_file
from hub.register.models import Contact, Elder
from tests.care.conftest import make_id

TODAY = date(2026, 11, 20)
GOOD_1 = make_id("50011219450305123")
GOOD_2 = make_id("50011219380817456")
GOOD_3 = make_id("50011219500101789")
BAD_CHECK = GOOD_3[:17] + ("0" if GOOD_3[17] != "0" else "1")

HEADER = [
    "姓名", "性别", "身份证号", "联系电话", "对象类别", "对象级别", "能力程度", "曾患病史", "残疾证号",
    "乡镇（街道）", "村（社区）", "居住地址", "紧急联系人", "紧急联系人电话", "责任人", "责任人电话", "探访人员", "探访人员电话",
]  # fmt: skip


def survey_rows() -> list[list[object]]:
    base = [
        "双凤桥街道",
        "空港社区",
        "空港路1号",
        "张儿子",
        "13600000001",
        "李主任",
        "13700000001",
        "王探访",
        "13900000001",
    ]
    return [
        ["张三", "男", GOOD_1, "13812345678", "独居", "", "能力完好", "高血压", "", *base],  # row 3: good
        ["李四", "", BAD_CHECK, "13812345679", "空巢", "", "", "", "", *base],  # row 4: checksum
        ["王五", "", GOOD_3, "1381234", "空巢", "", "", "", "", *base],  # row 5: phone
        ["赵六", "", GOOD_3, "13812345670", "孤老", "", "", "", "", *base],  # row 6: unknown category
        ["张三", "男", GOOD_1, "13812345678", "独居", "", "", "", "", *base],  # row 7: duplicate of row 3
        [
            "钱七",
            "",
            GOOD_2,
            "023-67001234",
            "重残、独居",
            "",
            "轻度失能",
            "糖尿病",
            "50011219380817456X41",
            *base,
        ],  # 8 good
        ["孙八", "", GOOD_3, "13812345671", "重残", "", "", "", "", *base],  # row 9: 重残 without 残疾证号
    ]


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["双凤桥街道特殊困难老年人摸排名单"])  # a title row above the header
    ws.append(header)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def problems_of(report: object) -> set[tuple[int, str]]:
    return {(p.row, p.column) for p in report.problems}  # type: ignore[attr-defined]


def test_dry_run_names_row_and_field_of_every_error_and_writes_nothing(
    session: Session, tmp_path: Path
) -> None:
    path = write_xlsx(tmp_path / "摸排.xlsx", HEADER, survey_rows())
    report = import_file(session, path, dry_run=True, today=TODAY)
    session.rollback()
    assert problems_of(report) == {
        (4, "身份证号"),
        (5, "联系电话"),
        (6, "对象类别"),
        (7, "身份证号"),
        (9, "残疾证号"),
    }
    assert "第 6 行「对象类别」" in report.summary() and "孤老" in report.summary()
    assert (report.created, report.rows) == (2, 7)
    assert session.scalars(select(Elder)).all() == []


def test_good_rows_land_bad_rows_do_not_and_reimport_changes_nothing(
    session: Session, tmp_path: Path
) -> None:
    path = write_xlsx(tmp_path / "摸排.xlsx", HEADER, survey_rows())
    report = import_file(session, path, today=TODAY)
    session.commit()
    assert report.created == 2 and report.bad_rows == 5
    elders = {e.name: e for e in session.scalars(select(Elder))}
    assert set(elders) == {"张三", "钱七"}
    zhang, qian = elders["张三"], elders["钱七"]
    # Born 1945 and living alone: 高龄独居, so a 重点对象.
    assert zhang.id_number == GOOD_1 and zhang.medical_history == "高血压" and zhang.tier == "key"
    # 轻度失能 counts as 失能; 失能/重残 make a 重点对象; sex comes from the ID number when not given.
    assert qian.categories == ["重残", "独居", "失能"] and qian.tier == "key" and qian.sex == "女"
    assert qian.disability_cert_no == "50011219380817456X41" and qian.phone == "023-67001234"
    assert zhang.home.street == "双凤桥街道" and zhang.home.community == "空港社区"
    roles = {(c.role, c.name) for c in session.scalars(select(Contact).where(Contact.elder_id == zhang.id))}
    assert roles == {("emergency", "张儿子"), ("responsible", "李主任"), ("visitor", "王探访")}

    again = import_file(session, path, today=TODAY)
    session.commit()
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert len(session.scalars(select(Elder)).all()) == 2


def test_health_commission_csv_adds_the_category_to_a_known_elder(session: Session, tmp_path: Path) -> None:
    write = write_xlsx(tmp_path / "摸排.xlsx", HEADER, survey_rows()[:1])
    import_file(session, write, today=TODAY)
    session.commit()
    csv_path = tmp_path / "计生特殊家庭.csv"
    # GBK, as exported by many office tools; the second row has an ID number Excel turned into junk.
    csv_path.write_bytes(
        f"姓名,身份证号,联系电话\n张三,{GOOD_1},13812345678\n周九,5.00112E+17,13812345672\n".encode("gbk")
    )
    report = import_file(session, csv_path, source="health", today=TODAY)
    session.commit()
    assert (report.updated, report.created) == (1, 0)
    assert problems_of(report) == {(3, "身份证号")}
    zhang = session.scalars(select(Elder)).one()
    assert zhang.categories == ["独居", "计生特殊家庭"]
    assert import_file(session, csv_path, source="health", today=TODAY).unchanged == 1


def test_disabled_federation_list_needs_certificate_and_grade_decides_severe(
    session: Session, tmp_path: Path
) -> None:
    header = ["姓名", "身份证号", "残疾证号", "残疾等级", "乡镇（街道）", "村（社区）"]
    rows: list[list[object]] = [
        ["钱七", GOOD_2, "C-1", "一级", "龙溪街道", "松牌路社区"],
        ["孙八", GOOD_3, "", "二级", "龙溪街道", "松牌路社区"],
        ["张三", GOOD_1, "C-3", "四级", "龙溪街道", "五童路社区"],
    ]
    report = import_file(
        session, write_xlsx(tmp_path / "残联.xlsx", header, rows), source="disabled", today=TODAY
    )
    session.commit()
    assert problems_of(report) == {(4, "残疾证号")}
    elders = {e.name: e for e in session.scalars(select(Elder))}
    assert elders["钱七"].categories == ["重残"] and elders["钱七"].tier == "key"
    assert elders["张三"].categories == [] and elders["张三"].tier == "general"
