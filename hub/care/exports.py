"""Exports in the notice's layouts: the 附件1 ledger, the 附件2 register and 附件3 visit records as xlsx,
the per-elder 附件2/附件3 forms as xlsx and printable PDF, and the half-year bundle (June / December).

ID numbers are masked (500***********1234) unless an `IdAccess` granted by `grant_id_access` reveals them.
The titles, columns and one elder's 附件2/附件3 rows come from `hub.care.forms`, which the PDF writer reads too;
this module lays them out as xlsx and calls `hub.care.pdf` for the printable copy in the bundle. PDFs use
reportlab's built-in CID font STSong-Light, so no font file is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.care.errors import CareError
from hub.care.forms import (
    HOUSEHOLD_HEADER,
    HOUSEHOLD_SECTION,
    LEDGER_HEADER,
    LEDGER_NOTE,
    LEDGER_TITLE,
    PERSON_SECTION,
    REGISTER_TITLE,
    SERVICE_HEADER,
    SERVICE_SECTION,
    VISIT_COLUMNS,
    VISITS_TITLE,
    household_rows,
    register_fields,
    service_rows,
    visit_row,
)
from hub.care.plans import check_year, local_midnight
from hub.care.register import MASKED, IdAccess, all_elders, contacts_with_role, responsible_of, show_id
from hub.care.tables import Visit
from hub.care.vocab import HOME_VISIT, LEDGER_CATEGORY, LEDGER_ORDER
from hub.register.models import Elder
from hub.register.site import local_address

_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


@dataclass(frozen=True, slots=True)
class LedgerHeader:
    """The 附件1 header fields."""

    unit: str = ""  # 填表单位（盖章）
    leader: str = ""  # 主要领导审核
    filler: str = ""  # 填报人
    filled_on: date | None = None  # 填表日期


def parse_half(text: str) -> tuple[int, int]:
    """``2026H2`` → (2026, 2); `CareError` otherwise."""
    m = re.fullmatch(r"(\d{4})H([12])", text.strip().upper())
    if not m:
        raise CareError(f"半年应写作 2026H1 或 2026H2：{text!r}")
    return check_year(int(m.group(1)), text, "半年"), int(m.group(2))


def half_bounds(half: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC start and end of a local half year (H1: January–June, H2: July–December)."""
    year, h = parse_half(half)
    first = date(year, 1 if h == 1 else 7, 1)
    after = date(year, 7, 1) if h == 1 else date(year + 1, 1, 1)
    return local_midnight(first, tz), local_midnight(after, tz)


def ledger_types(categories: list[str]) -> str:
    """The 对象类型 words of the ledger, in the notice's order, joined with 、."""
    return "、".join(LEDGER_CATEGORY[c] for c in LEDGER_ORDER if c in categories)


def _address(elder: Elder) -> str:
    """常住地址: 区, 镇街, 村（社区） once, then the rest of the address (which often repeats them)."""
    h = elder.home
    rest = local_address(h.address, h.district, h.street, h.community)
    return "".join(x for x in (h.district, h.street, h.community, rest) if x)


def ledger_rows(
    session: Session, start: datetime, end: datetime, access: IdAccess = MASKED
) -> list[list[Any]]:
    """One row per elder, in the ledger's 16 columns; visits and problems counted in [start, end)."""
    counts = {
        row.elder_id: (row.n, row.solved or 0)
        for row in session.execute(
            select(
                Visit.elder_id,
                func.count(Visit.id).label("n"),
                func.sum(Visit.problems_solved).label("solved"),
            )
            .where(Visit.method == HOME_VISIT, Visit.visited_at >= start, Visit.visited_at < end)
            .group_by(Visit.elder_id)
        )
    }
    solved_any = {
        row.elder_id: row.solved or 0
        for row in session.execute(
            select(Visit.elder_id, func.sum(Visit.problems_solved).label("solved"))
            .where(Visit.visited_at >= start, Visit.visited_at < end)
            .group_by(Visit.elder_id)
        )
    }
    rows = []
    for seq, elder in enumerate(all_elders(session), start=1):
        relatives = contacts_with_role(elder, "relative") or contacts_with_role(elder, "emergency")
        responsible = responsible_of(elder)
        home_visits = counts.get(elder.id, (0, 0))[0]
        rows.append(
            [
                seq,
                elder.name,
                elder.sex,
                _address(elder),
                show_id(elder.id_number, access),
                elder.phone,
                "；".join(c.name for c in relatives),
                "；".join(c.relation for c in relatives),
                "；".join(c.phone for c in relatives),
                ledger_types(elder.categories),
                elder.home.street,
                elder.home.community,
                responsible.name if responsible else "",
                responsible.phone if responsible else "",
                home_visits,
                solved_any.get(elder.id, 0),
            ]
        )
    return rows


def _write_two_row_header(ws: Worksheet, top: int) -> int:
    col = 1
    for label, subs in LEDGER_HEADER:
        if subs:
            ws.cell(top, col, label)
            ws.merge_cells(start_row=top, start_column=col, end_row=top, end_column=col + len(subs) - 1)
            for offset, sub in enumerate(subs):
                ws.cell(top + 1, col + offset, sub)
            col += len(subs)
        else:
            ws.cell(top, col, label)
            ws.merge_cells(start_row=top, start_column=col, end_row=top + 1, end_column=col)
            col += 1
    for row in ws.iter_rows(min_row=top, max_row=top + 1, max_col=col - 1):
        for cell in row:
            cell.alignment = _CENTER
            cell.font = Font(bold=True)
            cell.border = _BOX
    return col - 1


def write_ledger(path: Path, rows: list[list[Any]], header: LedgerHeader) -> None:
    """Write the 附件1 ledger: title (row 1), header fields (row 2), two-row header (rows 3–4), data, note."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "台帐"
    width = sum(max(1, len(subs)) for _, subs in LEDGER_HEADER)
    ws.cell(1, 1, LEDGER_TITLE).font = Font(bold=True, size=16)
    ws.cell(1, 1).alignment = _CENTER
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    filled = header.filled_on.isoformat() if header.filled_on else ""
    ws.cell(2, 1, f"填表单位：{header.unit}（盖章）")
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=5)
    ws.cell(2, 6, f"主要领导审核：{header.leader}")
    ws.merge_cells(start_row=2, start_column=6, end_row=2, end_column=9)
    ws.cell(2, 10, f"填报人：{header.filler}")
    ws.merge_cells(start_row=2, start_column=10, end_row=2, end_column=12)
    ws.cell(2, 13, f"填表日期：{filled}")
    ws.merge_cells(start_row=2, start_column=13, end_row=2, end_column=width)
    _write_two_row_header(ws, 3)
    for r, values in enumerate(rows, start=5):
        for c, value in enumerate(values, start=1):
            cell = ws.cell(r, c, value)
            cell.border = _BOX
            cell.alignment = Alignment(vertical="center", wrap_text=True)
    note_row = 5 + len(rows)
    ws.cell(note_row, 1, LEDGER_NOTE)
    ws.merge_cells(start_row=note_row, start_column=1, end_row=note_row, end_column=width)
    for letter, w in zip(
        "ABCDEFGHIJKLMNOP", (6, 10, 6, 30, 22, 14, 10, 10, 14, 22, 12, 14, 10, 14, 10, 10), strict=True
    ):
        ws.column_dimensions[letter].width = w
    ws.freeze_panes = "A5"
    ws.print_title_rows = "3:4"
    ws.page_setup.orientation = "landscape"
    _save(book, path)


# What a spreadsheet program reads as the start of a formula (OWASP "CSV injection"): = + - @, and tab / CR.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A signed number as text ("-5", money formatted by `_money`) computes nothing: left as it is.
_PLAIN_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def inert(value: Any) -> Any:
    """`value` safe to put in a cell: text that would start a formula gets a leading apostrophe.

    Names, addresses and notes come from imports and visitors; ``=HYPERLINK(...)`` as a name must stay
    text in the ledger. Numbers (a negative income) are left as numbers.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


# Characters that mean a directory or are refused by Windows' file systems (where the bundle is opened).
_NOT_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_file_stem(text: str) -> str:
    """`text` usable as one file name: separators and reserved characters become ``_``."""
    return _NOT_IN_FILE_NAMES.sub("_", text).strip(" .") or "_"


def _neutralise(book: Workbook) -> None:
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.value = inert(cell.value)


def _save(book: Workbook, path: Path) -> None:
    # Every workbook passes here, so no export (now or later) can write a live formula from data.
    _neutralise(book)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        book.save(path)
    except OSError as exc:
        raise CareError(f"{path}: 无法写入文件: {exc}") from exc


def export_ledger(
    session: Session, path: Path, *, half: str, tz: ZoneInfo, header: LedgerHeader, access: IdAccess = MASKED
) -> int:
    """Write the ledger of a half year; returns the number of elders."""
    start, end = half_bounds(half, tz)
    rows = ledger_rows(session, start, end, access)
    write_ledger(path, rows, header)
    return len(rows)


def _table(ws: Worksheet, top: int, header: tuple[str, ...] | list[str], rows: list[list[Any]]) -> int:
    for c, label in enumerate(header, start=1):
        cell = ws.cell(top, c, label)
        cell.font = Font(bold=True)
        cell.border = _BOX
        cell.alignment = _CENTER
    for r, values in enumerate(rows, start=top + 1):
        for c, value in enumerate(values, start=1):
            ws.cell(r, c, value).border = _BOX
    return top + 1 + len(rows)


def write_elder_forms(
    session: Session,
    elder: Elder,
    path: Path,
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    access: IdAccess,
) -> None:
    """One workbook per elder: sheet 附件2登记表 (label/value pairs, household) and sheet 附件3探访记录."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "附件2登记表"
    ws.cell(1, 1, REGISTER_TITLE).font = Font(bold=True, size=14)
    row = 2
    ws.cell(row, 1, PERSON_SECTION).font = Font(bold=True)
    for label, value in register_fields(session, elder, access):
        row += 1
        ws.cell(row, 1, label).border = _BOX
        ws.cell(row, 2, value).border = _BOX
    row += 2
    ws.cell(row, 1, HOUSEHOLD_SECTION).font = Font(bold=True)
    _table(ws, row + 1, HOUSEHOLD_HEADER, household_rows(session, elder, access))
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 50
    ws2 = book.create_sheet("附件3探访记录")
    ws2.cell(1, 1, VISITS_TITLE).font = Font(bold=True, size=14)
    ws2.cell(2, 1, f"{elder.name}（{show_id(elder.id_number, access)}）")
    visits = session.scalars(
        select(Visit)
        .where(Visit.elder_id == elder.id, Visit.visited_at >= start, Visit.visited_at < end)
        .order_by(Visit.seq)
    ).all()
    after = _table(ws2, 3, [label for _, label in VISIT_COLUMNS], [visit_row(v, tz) for v in visits])
    services = service_rows(session, elder, start, end, tz)
    ws2.cell(after + 1, 1, SERVICE_SECTION).font = Font(bold=True)
    _table(ws2, after + 2, SERVICE_HEADER, services)
    _save(book, path)


def export_register(session: Session, path: Path, *, access: IdAccess = MASKED) -> int:
    """All elders' 附件2 fields, one row each (header = the form's labels); returns the count."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "登记表"
    elders = all_elders(session)
    rows = [register_fields(session, e, access) for e in elders]
    labels = [label for label, _ in register_fields(session, elders[0], access)] if elders else ["姓名"]
    _table(
        ws,
        1,
        ["编号", "镇街", "村（社区）", *labels],
        [
            [e.code, e.home.street, e.home.community, *(v for _, v in r)]
            for e, r in zip(elders, rows, strict=True)
        ],
    )
    _save(book, path)
    return len(elders)


def export_visits(
    session: Session, path: Path, *, start: datetime, end: datetime, tz: ZoneInfo, access: IdAccess = MASKED
) -> int:
    """All visits in [start, end), one row each with the elder's code, name and ID; returns the count."""
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = "探访记录"
    visits = session.scalars(
        select(Visit)
        .where(Visit.visited_at >= start, Visit.visited_at < end)
        .order_by(Visit.visited_at, Visit.id)
    ).all()
    rows = [
        [v.elder.code, v.elder.name, show_id(v.elder.id_number, access), *visit_row(v, tz)] for v in visits
    ]
    _table(ws, 1, ["编号", "姓名", "居民身份证号码", *(label for _, label in VISIT_COLUMNS)], rows)
    _save(book, path)
    return len(visits)


def export_bundle(
    session: Session,
    out_dir: Path,
    *,
    half: str,
    tz: ZoneInfo,
    header: LedgerHeader,
    access: IdAccess = MASKED,
) -> list[Path]:
    """The half-year bundle for the district bureau: ledger, then 附件2/附件3 per elder as xlsx and PDF."""
    # Imported here so that reportlab and its CID font load only when a bundle is written (every CLI command
    # imports this module); `hub.care.pdf` itself imports nothing from exports.
    from hub.care.pdf import write_elder_pdf

    start, end = half_bounds(half, tz)
    year, h = parse_half(half)
    tag = f"{year}年{'上' if h == 1 else '下'}半年"
    written = [out_dir / f"附件1_台帐_{tag}.xlsx"]
    write_ledger(written[0], ledger_rows(session, start, end, access), header)
    for elder in all_elders(session):
        stem = safe_file_stem(f"{elder.code}_{elder.name}")
        xlsx = out_dir / "附件2_附件3" / f"{stem}.xlsx"
        pdf = out_dir / "附件2_附件3" / f"{stem}.pdf"
        write_elder_forms(session, elder, xlsx, start=start, end=end, tz=tz, access=access)
        write_elder_pdf(session, elder, pdf, start=start, end=end, tz=tz, access=access)
        written += [xlsx, pdf]
    return written
