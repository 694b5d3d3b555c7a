"""Import of survey lists (摸排) from xlsx or CSV: the street's own survey, the health commission's
计生特殊家庭 list and the disabled persons' federation (残联) list.

Reading (`read_table`) and checking (`check_rows`) are pure; `import_rows` writes the good rows and reports
the bad ones, each problem naming the spreadsheet row and the column header. A row with any problem is not
written at all; the other rows land. Elders are found by the keyed hash of their 身份证号, so importing the
same list twice changes nothing the second time. A dry run checks and counts without writing.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.care.errors import CareError
from hub.care.idcard import birth_date, check_id_number, sex_of
from hub.care.vocab import ABILITY_LEVELS, CATEGORY_ALIASES, ECONOMY_STATUS, TIER_BY_WORD
from hub.register.crypto import id_hash
from hub.register.models import Contact, Elder, Home

SOURCES = {"survey": "摸排名单", "health": "卫健委计生特殊家庭名单", "disabled": "残联残疾老年人名单"}

# Column header (and accepted variants) → field.
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名",),
    "sex": ("性别",),
    "id_number": ("身份证号", "居民身份证号码", "身份证号码"),
    "phone": ("联系电话", "电话"),
    "categories": ("对象类别", "对象类型"),
    "tier": ("对象级别", "重点对象/一般对象"),
    "ability_level": ("能力程度",),
    "medical_history": ("曾患病史",),
    "economy_status": ("经济情况",),
    "monthly_income": ("月可支配收入",),
    "income_source": ("经济来源",),
    "disability_cert_no": ("残疾证号",),
    "disability_grade": ("残疾等级",),
    "reg_district": ("户籍区（县）", "户籍区县"),
    "reg_street": ("户籍乡镇（街道）", "户籍镇街"),
    "reg_community": ("户籍村（社区）",),
    "reg_address": ("户籍地址",),
    "district": ("区（县）", "居住区（县）"),
    "street": ("乡镇（街道）", "居住乡镇（街道）", "镇街"),
    "community": ("村（社区）", "居住村（社区）"),
    "address": ("居住地址", "常住地址"),
    "emergency_name": ("紧急联系人",),
    "emergency_sex": ("紧急联系人性别",),
    "emergency_phone": ("紧急联系人电话",),
    "responsible_name": ("责任人",),
    "responsible_phone": ("责任人电话",),
    "visitor_name": ("探访人员", "探访联系人"),
    "visitor_phone": ("探访人员电话", "探访联系人电话"),
    "filed_on": ("建档日期",),
}
_HEADER_OF = {alias: fld for fld, aliases in COLUMNS.items() for alias in aliases}

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
_SPLIT = re.compile(r"[、,，;；/\s]+")
_SEVERE_GRADES = {
    "一级": 1,
    "二级": 2,
    "1": 1,
    "2": 2,
    "1级": 1,
    "2级": 2,
    "三级": 3,
    "四级": 4,
    "3": 3,
    "4": 4,
}
# 高龄独居: the notice names the very old living alone as key targets; 80 is the usual 高龄 threshold.
OLD_AGE = 80


@dataclass(frozen=True, slots=True)
class Problem:
    """One error in an import file: spreadsheet row (header = its own row number), column, message."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"第 {self.row} 行「{self.column}」：{self.message}"


@dataclass
class ImportReport:
    """What an import did or, in a dry run, would do."""

    path: str
    source: str
    dry_run: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def bad_rows(self) -> int:
        """Rows with at least one problem (not written)."""
        return len({p.row for p in self.problems})

    def summary(self) -> str:
        """A report for the operator, in Chinese, naming every error's row and column."""
        head = "（试运行，未写入）" if self.dry_run else ""
        lines = [
            f"导入 {self.path}（{SOURCES.get(self.source, self.source)}）{head}：共 {self.rows} 行，"
            f"新增 {self.created}，更新 {self.updated}，未变 {self.unchanged}，有错误 {self.bad_rows} 行"
        ]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "path": self.path,
            "source": self.source,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "bad_rows": self.bad_rows,
            "problems": [{"row": p.row, "column": p.column, "message": p.message} for p in self.problems],
        }


@dataclass
class Row:
    """One data row of a list, by field, with its spreadsheet row number and the headers used."""

    number: int
    values: dict[str, Any]
    headers: dict[str, str]  # field → the header text in this file

    def col(self, fld: str) -> str:
        """The file's header for a field (for messages), or the canonical one when the file lacks it."""
        return self.headers.get(fld, COLUMNS[fld][0])

    def text(self, fld: str) -> str:
        """The cell as stripped text ('' when empty)."""
        value = self.values.get(fld)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()


# ------------------------------------------------------------------------------------------------ reading


def read_table(path: Path, data: bytes | None = None) -> list[Row]:
    """Read the first sheet of an xlsx or a CSV (UTF-8 or GB18030); the header is the row with 姓名."""
    suffix = path.suffix.lower()
    raw = data if data is not None else _read_bytes(path)
    if suffix in (".xlsx", ".xlsm"):
        grid = _xlsx_grid(path, raw)
    elif suffix == ".csv":
        grid = _csv_grid(path, raw)
    else:
        raise CareError(f"{path}: 只支持 .xlsx 和 .csv 文件")
    for index, cells in enumerate(grid):
        texts = [str(c).strip() if c is not None else "" for c in cells]
        if "姓名" in texts:
            headers: dict[int, str] = {}
            for pos, text in enumerate(texts):
                fld = _HEADER_OF.get(text)
                if fld is not None:
                    headers[pos] = fld
            by_field = {fld: texts[pos] for pos, fld in headers.items()}
            rows = []
            for offset, data_cells in enumerate(grid[index + 1 :], start=index + 2):
                values = {
                    fld: data_cells[pos] if pos < len(data_cells) else None for pos, fld in headers.items()
                }
                if all(v is None or str(v).strip() == "" for v in values.values()):
                    continue
                rows.append(Row(offset, values, by_field))
            return rows
    raise CareError(f"{path}: 找不到表头（应有一行包含「姓名」）")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CareError(f"{path}: 无法读取文件: {exc}") from exc


def _xlsx_grid(path: Path, raw: bytes) -> list[list[Any]]:
    # A damaged or hostile file makes openpyxl (zipfile, the XML parser) fail in many ways — BadZipFile,
    # ParseError, KeyError, TypeError… — while opening or lazily while reading rows. All of them mean the
    # same to the person who uploaded it, so every error is converted here, at the boundary.
    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:
        raise CareError(f"{path}: 不是有效的 xlsx 文件: {type(exc).__name__}: {exc}") from exc
    try:
        if not book.worksheets:
            raise CareError(f"{path}: 不是有效的 xlsx 文件: 没有工作表")
        return [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    except CareError:
        raise
    except Exception as exc:
        raise CareError(f"{path}: 不是有效的 xlsx 文件: {type(exc).__name__}: {exc}") from exc
    finally:
        book.close()


def _csv_grid(path: Path, raw: bytes) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return [list(r) for r in csv.reader(io.StringIO(text))]
    raise CareError(f"{path}: CSV 文件编码无法识别（请用 UTF-8 或 GBK）")


# ----------------------------------------------------------------------------------------------- checking


@dataclass
class CheckedRow:
    """A row that passed every check, in the register's terms."""

    number: int
    id_number: str
    fields: dict[str, Any]  # Elder attributes to set (only those the file gives)
    categories: list[str]
    tier: str | None
    home: dict[str, str]  # district, street, community, address (may be partial)
    contacts: list[tuple[str, str, str, str]]  # (role, name, phone, relation)


def _phone(row: Row, fld: str, problems: list[Problem]) -> str:
    value = row.text(fld).replace(" ", "")
    if value and not (_MOBILE.fullmatch(value) or _LANDLINE.fullmatch(value)):
        problems.append(
            Problem(row.number, row.col(fld), f"电话号码格式不正确：{value!r}（手机11位，座机带区号）")
        )
    return value


def _money(row: Row, fld: str, problems: list[Problem]) -> float | None:
    value = row.text(fld)
    if not value:
        return None
    try:
        amount = float(value.removesuffix("元"))
    except ValueError:
        problems.append(Problem(row.number, row.col(fld), f"金额应为数字：{value!r}"))
        return None
    if amount < 0:
        problems.append(Problem(row.number, row.col(fld), f"金额不能为负：{value!r}"))
    return amount


def _date(row: Row, fld: str, problems: list[Problem]) -> date | None:
    value = row.values.get(fld)
    if value is None or str(value).strip() == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip().replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(Problem(row.number, row.col(fld), f"日期格式不正确：{value!r}（应为 2024-05-01）"))
        return None


def check_row(row: Row, source: str, today: date, problems: list[Problem]) -> CheckedRow | None:
    """Check one row; append its problems and return None when it has any."""
    before = len(problems)
    name = row.text("name")
    if not name:
        problems.append(Problem(row.number, row.col("name"), "姓名不能为空"))
    raw_id = row.values.get("id_number")
    number = ""
    if isinstance(raw_id, float):
        problems.append(
            Problem(
                row.number,
                row.col("id_number"),
                "身份证号被存成了数字，末几位已丢失；请把该列设为文本后重新导出",
            )
        )
    elif not row.text("id_number"):
        problems.append(Problem(row.number, row.col("id_number"), "身份证号不能为空"))
    else:
        try:
            number = check_id_number(row.text("id_number"))
        except ValueError as exc:
            problems.append(Problem(row.number, row.col("id_number"), str(exc)))
    sex = row.text("sex")
    if sex and sex not in ("男", "女"):
        problems.append(Problem(row.number, row.col("sex"), f"性别应为 男 或 女：{sex!r}"))
    elif number and sex and sex != sex_of(number):
        problems.append(Problem(row.number, row.col("sex"), f"性别 {sex} 与身份证号不符"))
    phone = _phone(row, "phone", problems)

    categories: list[str] = []
    for word in _SPLIT.split(row.text("categories")):
        if not word:
            continue
        key = CATEGORY_ALIASES.get(word.removeprefix("□").removeprefix("☑"))
        if key is None:
            problems.append(Problem(row.number, row.col("categories"), f"未知的对象类别：{word!r}"))
        elif key not in categories:
            categories.append(key)
    if source == "health" and "计生特殊家庭" not in categories:
        categories.append("计生特殊家庭")
    ability = row.text("ability_level")
    if ability and ability not in ABILITY_LEVELS:
        problems.append(
            Problem(
                row.number,
                row.col("ability_level"),
                f"能力程度应为 {'、'.join(ABILITY_LEVELS)} 之一：{ability!r}",
            )
        )
    elif ability and ability != "能力完好" and "失能" not in categories:
        categories.append("失能")  # every level below 能力完好 is 失能 (notice 一(三)4)
    cert = row.text("disability_cert_no")
    grade_text = row.text("disability_grade")
    if grade_text:
        grade = _SEVERE_GRADES.get(grade_text)
        if grade is None:
            problems.append(
                Problem(row.number, row.col("disability_grade"), f"残疾等级应为 一级 至 四级：{grade_text!r}")
            )
        elif grade <= 2 and "重残" not in categories:
            categories.append("重残")
    if source == "disabled" and not cert:
        problems.append(Problem(row.number, row.col("disability_cert_no"), "残联名单的每一行都应有残疾证号"))
    if "重残" in categories and not cert:
        problems.append(Problem(row.number, row.col("disability_cert_no"), "重残老年人须填写残疾证号"))
    if source == "survey" and not categories:
        problems.append(Problem(row.number, row.col("categories"), "对象类别不能为空"))

    tier_word = row.text("tier")
    tier: str | None = None
    if tier_word:
        tier = TIER_BY_WORD.get(tier_word)
        if tier is None:
            problems.append(Problem(row.number, row.col("tier"), f"应为 重点对象 或 一般对象：{tier_word!r}"))
    economy = row.text("economy_status")
    if economy and economy not in ECONOMY_STATUS:
        economy = "低保、低保边缘" if economy in ("低保", "低保边缘") else economy
        if economy not in ECONOMY_STATUS:
            problems.append(
                Problem(
                    row.number,
                    row.col("economy_status"),
                    f"经济情况应为 特困人员 或 低保、低保边缘：{economy!r}",
                )
            )
    income = _money(row, "monthly_income", problems)
    filed_on = _date(row, "filed_on", problems)
    emergency_phone = _phone(row, "emergency_phone", problems)
    responsible_phone = _phone(row, "responsible_phone", problems)
    visitor_phone = _phone(row, "visitor_phone", problems)
    for person, person_phone in (
        ("emergency_name", emergency_phone),
        ("responsible_name", responsible_phone),
        ("visitor_name", visitor_phone),
    ):
        if row.text(person) and not person_phone:
            phone_field = person.replace("_name", "_phone")
            problems.append(
                Problem(row.number, row.col(phone_field), f"填写了{row.col(person)}，须同时填写其电话")
            )
    if len(problems) > before:
        return None

    fields: dict[str, Any] = {"name": name, "sex": sex or sex_of(number)}
    optional = {
        "phone": phone,
        "ability_level": ability,
        "medical_history": row.text("medical_history"),
        "economy_status": economy,
        "income_source": row.text("income_source"),
        "disability_cert_no": cert,
        "reg_district": row.text("reg_district"),
        "reg_street": row.text("reg_street"),
        "reg_community": row.text("reg_community"),
        "reg_address": row.text("reg_address"),
    }
    fields.update({k: v for k, v in optional.items() if v})
    if income is not None:
        fields["monthly_income"] = income
    if filed_on is not None:
        fields["filed_on"] = filed_on
    contacts = []
    for role, person, person_phone in (
        ("emergency", "emergency_name", emergency_phone),
        ("responsible", "responsible_name", responsible_phone),
        ("visitor", "visitor_name", visitor_phone),
    ):
        if row.text(person):
            contacts.append((role, row.text(person), person_phone, ""))
    home = {k: row.text(k) for k in ("district", "street", "community", "address") if row.text(k)}
    return CheckedRow(row.number, number, fields, categories, tier, home, contacts)


def default_tier(categories: Iterable[str], number: str, today: date) -> str:
    """重点对象 for 失能, 重残 and 高龄独居 (80 or older living alone); otherwise 一般对象."""
    cats = set(categories)
    born = birth_date(number)
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if cats & {"失能", "重残"} or ("独居" in cats and age >= OLD_AGE):
        return "key"
    return "general"


# ---------------------------------------------------------------------------------------------- importing


def import_file(
    session: Session,
    path: Path,
    *,
    source: str = "survey",
    dry_run: bool = False,
    today: date,
    data: bytes | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a list into the register (the caller commits); see the module docstring."""
    if source not in SOURCES:
        raise CareError(f"名单来源 {source!r} 无效，应为 {'、'.join(SOURCES)}")
    rows = read_table(path, data)
    report = ImportReport(str(path), source, dry_run, rows=len(rows))
    seen: dict[str, int] = {}
    for done, row in enumerate(rows, start=1):
        checked = check_row(row, source, today, report.problems)
        if checked is not None:
            if checked.id_number in seen:
                report.problems.append(
                    Problem(
                        row.number, row.col("id_number"), f"与第 {seen[checked.id_number]} 行身份证号重复"
                    )
                )
            else:
                seen[checked.id_number] = row.number
                outcome = _apply(session, checked, source, today, dry_run, report)
                if outcome is not None:
                    setattr(report, outcome, getattr(report, outcome) + 1)
        if progress is not None:
            progress(done, len(rows))
    report.problems.sort(key=lambda p: p.row)
    return report


def _set(obj: Any, attr: str, value: Any) -> bool:
    if getattr(obj, attr) == value:
        return False
    setattr(obj, attr, value)
    return True


def _apply(
    session: Session, row: CheckedRow, source: str, today: date, dry_run: bool, report: ImportReport
) -> str | None:
    """Write one checked row; return "created", "updated" or "unchanged" (None when it cannot land)."""
    hashed = id_hash(row.id_number)
    elder = session.scalar(select(Elder).where(Elder.id_hash == hashed))
    if elder is None:
        missing = [k for k in ("street", "community") if not row.home.get(k)]
        if missing:
            for k in missing:
                report.problems.append(
                    Problem(row.number, COLUMNS[k][0], "新建档的老年人须填写居住地的乡镇（街道）和村（社区）")
                )
            return None
        if dry_run:
            return "created"
        code = f"E{hashed[:11]}"
        home = Home(
            code=f"H{hashed[:11]}",
            address=row.home.get("address", ""),
            district=row.home.get("district", ""),
            street=row.home["street"],
            community=row.home["community"],
        )
        session.add(home)
        session.flush()
        tier = row.tier or default_tier(row.categories, row.id_number, today)
        elder = Elder(
            code=code,
            home_id=home.id,
            id_number=row.id_number,
            id_hash=hashed,
            tier=tier,
            categories=list(row.categories),
            filed_on=row.fields.get("filed_on", today),
            **{k: v for k, v in row.fields.items() if k != "filed_on"},
        )
        session.add(elder)
        session.flush()
        _contacts(session, elder, row.contacts)
        return "created"
    changed = False
    if dry_run:
        # Compare without writing: the same checks as below on a detached view.
        changed = any(getattr(elder, k) != v for k, v in row.fields.items() if k != "filed_on")
        changed |= _merged_categories(elder.categories, row.categories, source) != list(elder.categories)
        changed |= row.tier is not None and row.tier != elder.tier
        return "updated" if changed else "unchanged"
    for key, value in row.fields.items():
        if key == "filed_on" and elder.filed_on is not None:
            continue
        changed |= _set(elder, key, value)
    changed |= _set(elder, "categories", _merged_categories(elder.categories, row.categories, source))
    if row.tier is not None:
        changed |= _set(elder, "tier", row.tier)
    home = elder.home
    for key, value in row.home.items():
        changed |= _set(home, key, value)
    changed |= _contacts(session, elder, row.contacts)
    return "updated" if changed else "unchanged"


def _merged_categories(current: list[str], listed: list[str], source: str) -> list[str]:
    """A survey list states the categories; the other departments' lists add theirs to what is there."""
    if source == "survey":
        return list(listed)
    return list(current) + [c for c in listed if c not in current]


def _contacts(session: Session, elder: Elder, contacts: list[tuple[str, str, str, str]]) -> bool:
    changed = False
    existing = {(c.role, c.name): c for c in elder.contacts}
    for role, name, phone, relation in contacts:
        contact = existing.get((role, name))
        if contact is None:
            priority = max((c.priority for c in elder.contacts), default=-1) + 1
            contact = Contact(
                elder_id=elder.id, name=name, role=role, phone=phone, relation=relation, priority=priority
            )
            session.add(contact)
            elder.contacts.append(contact)
            changed = True
        else:
            changed |= _set(contact, "phone", phone)
    return changed
