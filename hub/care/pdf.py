"""Printable PDF of one elder's 附件2 registration form and 附件3 visit records (reportlab).

The Chinese text is set in an embedded CJK TrueType font (WenQuanYi Zen Hei, Debian's fonts-wqy-zenhei, which
scripts/services.sh and the Dockerfile install), so the PDF shows the same glyphs on any viewer. Without it the
PDF falls back to Adobe's non-embedded STSong-Light, which only viewers with the Asian font pack draw (and says
so in the log).

The titles, labels and rows come from `hub.care.forms`, the same the xlsx copy uses; `hub.care.exports`
calls `write_elder_pdf` for the half-year bundle (this module imports nothing from it).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.care.errors import CareError
from hub.care.forms import (
    HOUSEHOLD_HEADER,
    HOUSEHOLD_SECTION,
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
from hub.care.register import IdAccess
from hub.care.tables import Visit
from hub.register.models import Elder

LOGGER = logging.getLogger(__name__)
# Embeddable CJK TrueType fonts (TrueType outlines: reportlab embeds a subset of these), first found wins.
CJK_FONT_FILES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
)
FALLBACK_FONT = "STSong-Light"


def _register_font() -> str:
    for path in CJK_FONT_FILES:
        if path.exists():
            pdfmetrics.registerFont(TTFont("WenQuanYiZenHei", str(path), subfontIndex=0))
            return "WenQuanYiZenHei"
    LOGGER.warning(
        "没有可嵌入的中文字体（安装 fonts-wqy-zenhei：scripts/services.sh fonts），PDF 改用不嵌入的 %s",
        FALLBACK_FONT,
    )
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


FONT = _register_font()
_TITLE = ParagraphStyle("title", fontName=FONT, fontSize=15, leading=20, alignment=1, spaceAfter=6)
_CELL = ParagraphStyle("cell", fontName=FONT, fontSize=9, leading=12)
_GRID = TableStyle(
    [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
)


def _p(value: object) -> Paragraph:
    return Paragraph(str(value).replace("&", "&amp;").replace("<", "&lt;"), _CELL)


def write_elder_pdf(
    session: Session,
    elder: Elder,
    path: Path,
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    access: IdAccess,
) -> None:
    """附件2 on the first page(s), then one 附件3 block per visit in [start, end) and the care services."""
    story: list[object] = [Paragraph(REGISTER_TITLE, _TITLE)]
    story.append(
        Table(
            [[_p(k), _p(v)] for k, v in register_fields(session, elder, access)],
            colWidths=[45 * mm, 130 * mm],
            style=_GRID,
        )
    )
    members = household_rows(session, elder, access)
    if members:
        story += [Spacer(1, 4 * mm), _p(HOUSEHOLD_SECTION)]
        story.append(
            Table([[_p(h) for h in HOUSEHOLD_HEADER], *[[_p(v) for v in r] for r in members]], style=_GRID)
        )
    story.append(_p("备注：此表一式三份，区民政局、镇（街道）、村（社区）各存档一份。"))
    visits = session.scalars(
        select(Visit)
        .where(Visit.elder_id == elder.id, Visit.visited_at >= start, Visit.visited_at < end)
        .order_by(Visit.seq)
    ).all()
    for visit in visits:
        story += [
            PageBreak(),
            Paragraph(VISITS_TITLE, _TITLE),
            _p(f"{elder.name}　第 {visit.seq} 次开展探访"),
        ]
        rows = [
            [_p(label), _p(value)]
            for (_, label), value in zip(VISIT_COLUMNS, visit_row(visit, tz), strict=True)
        ]
        story.append(Table(rows, colWidths=[45 * mm, 130 * mm], style=_GRID))
    services = service_rows(session, elder, start, end, tz)
    if services:
        story += [Spacer(1, 4 * mm), _p(SERVICE_SECTION)]
        story.append(
            Table([[_p(h) for h in SERVICE_HEADER], *[[_p(v) for v in r] for r in services]], style=_GRID)
        )
    story.append(_p("备注：此表一式四份，区民政局、镇（街道）、村（社区）、服务人员所在单位各存档一份。"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = SimpleDocTemplate(
            str(path),
            pagesize=A4,
            title=f"{REGISTER_TITLE} {elder.code}",
            leftMargin=15 * mm,
            rightMargin=15 * mm,
        )
        doc.build(story)
    except OSError as exc:
        raise CareError(f"{path}: 无法写入 PDF: {exc}") from exc
