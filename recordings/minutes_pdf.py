"""The minutes ("biên bản") of a meeting as a PDF (reportlab).

Laid out as Decree 30/2020/NĐ-CP asks (Appendix I for presentation, Appendix III form 1.9 for
the biên bản; see docs/minutes.md) on ``recordings.minutes_page``'s page. A pure function of
a ``MinutesContent`` (``recordings.minutes_content``), which says everything: this module adds
only layout and fonts. The server signs the result (``recordings.signing``).
"""

from __future__ import annotations

import threading
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from reportlab import platypus
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT
from reportlab.lib.fonts import addMapping
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from recordings.minutes_content import MinutesContent, Paragraph, Table
from recordings.minutes_page import (
    ATTENDANCE_WIDTHS,
    FIRST_LINE_INDENT_MM,
    HEADER_LEFT_W,
    HEADER_RIGHT_W,
    MARGIN_BOTTOM,
    MARGIN_LEFT,
    MARGIN_RIGHT,
    MARGIN_TOP,
    PAGE_H,
    SIGNATURE_SPACE_MM,
    TEXT_W,
    Role,
)

# Sizes in points. DejaVu Serif (PDF) is about 15 % wider than Times New Roman (DOCX), so the
# PDF sits at the low end of the decree's ranges; single lines that must not wrap are shrunk
# further to fit their column (see _fit).
PDF_PT: dict[Role, float] = {
    Role.GOVERNING: 12,
    Role.ISSUING: 12,
    Role.NUMBER: 13,
    Role.NATIONAL: 12,
    Role.MOTTO: 13,
    Role.DATE_LINE: 13,
    Role.TITLE: 14,
    Role.SUBJECT: 13,
    Role.CORRECTION: 13,
    Role.BODY: 13,
    Role.TABLE: 11,
    Role.SIGNATURE: 13,
    Role.RECIPIENTS_LABEL: 12,
    Role.RECIPIENT: 11,
    Role.PAGE_NUMBER: 13,
}

FONT = "DejaVuSerif"
_STYLE_SUFFIX = {
    (False, False): "",
    (True, False): "-Bold",
    (False, True): "-Italic",
    (True, True): "-BoldItalic",
}


def font_directory() -> Path:
    """matplotlib's bundled fonts: DejaVu Serif in four styles, every Vietnamese letter."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _face(bold: bool = False, italic: bool = False) -> str:
    return FONT + _STYLE_SUFFIX[(bold, italic)]


# reportlab keeps each document's font subsets in the shared TTFont objects: one PDF at a time.
_PDF_LOCK = threading.Lock()


@cache
def _register_fonts() -> None:
    """DejaVu Serif's four styles as one family, so <b> and <i> pick the right file."""
    for (bold, italic), suffix in _STYLE_SUFFIX.items():
        name = FONT + suffix
        pdfmetrics.registerFont(TTFont(name, str(font_directory() / f"{name}.ttf")))
        addMapping(FONT, int(bold), int(italic), name)


def _fit(text: str, face: str, size: float, width_pt: float, smallest: float) -> float:
    """The largest size ≤ ``size`` (in half points, not below ``smallest``) at which ``text``
    fits on one line of ``width_pt``."""
    while size > smallest and pdfmetrics.stringWidth(text, face, size) > width_pt:
        size -= 0.5
    return size


def _style(role: Role, *, bold: bool = False, italic: bool = False, **kw: Any) -> ParagraphStyle:
    size = kw.pop("size", PDF_PT[role])
    options: dict[str, Any] = {
        "fontName": _face(bold, italic),
        "fontSize": size,
        "leading": round(size * 1.25, 1),
        "alignment": TA_CENTER,
    }
    options.update(kw)
    return ParagraphStyle(role.value, **options)


_BODY = {"alignment": TA_JUSTIFY, "firstLineIndent": FIRST_LINE_INDENT_MM * mm, "spaceAfter": 6}
_CELL_FONT = ("FONT", (0, 0), (-1, -1), FONT, PDF_PT[Role.TABLE])  # else Helvetica is named
_NO_PADDING = [
    _CELL_FONT,
    ("LEFTPADDING", (0, 0), (-1, -1), 0),
    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ("TOPPADDING", (0, 0), (-1, -1), 0),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
]


def _markup(para: Paragraph) -> str:
    parts = []
    for run in para.runs:
        text = escape(run.text)
        if run.bold:
            text = f"<b>{text}</b>"
        if run.italic:
            text = f"<i>{text}</i>"
        if run.link:
            text = f"<link href={quoteattr(run.link)}>{text}</link>"
        parts.append(text)
    return "".join(parts)


def _rule(width: float) -> platypus.Flowable:
    return platypus.HRFlowable(
        width=width, thickness=0.6, color=colors.black, spaceBefore=2, spaceAfter=3
    )


def _pdf_header(content: MinutesContent) -> platypus.Flowable:
    """Two borderless columns: the bodies | the national title and motto; then "Số: …" |
    the date line, on one baseline."""
    left: list[platypus.Flowable] = []
    if content.governing_body:
        left.append(platypus.Paragraph(escape(content.governing_body), _style(Role.GOVERNING)))
    issuing = content.issuing_body
    issuing_style = _style(Role.ISSUING, bold=True)
    left.append(platypus.Paragraph(escape(issuing), issuing_style))
    issuing_w = pdfmetrics.stringWidth(issuing, issuing_style.fontName, issuing_style.fontSize)
    left.append(_rule(max(min(issuing_w, HEADER_LEFT_W * mm) * 0.4, 12 * mm)))

    national, motto = content.national_title, content.motto
    national_size = _fit(national, _face(bold=True), PDF_PT[Role.NATIONAL], HEADER_RIGHT_W * mm, 10)
    motto_style = _style(Role.MOTTO, bold=True)
    right: list[platypus.Flowable] = [
        platypus.Paragraph(escape(national), _style(Role.NATIONAL, bold=True, size=national_size)),
        platypus.Paragraph(escape(motto), motto_style),
        _rule(pdfmetrics.stringWidth(motto, motto_style.fontName, motto_style.fontSize)),
    ]
    dated = content.date_line
    date_size = _fit(dated, _face(italic=True), PDF_PT[Role.DATE_LINE], HEADER_RIGHT_W * mm, 12)
    header = platypus.Table(
        [
            [left, right],
            [
                platypus.Paragraph(escape(content.number_line), _style(Role.NUMBER)),
                platypus.Paragraph(
                    escape(dated), _style(Role.DATE_LINE, italic=True, size=date_size)
                ),
            ],
        ],
        colWidths=[HEADER_LEFT_W * mm, HEADER_RIGHT_W * mm],
    )
    header.setStyle(
        platypus.TableStyle(
            [
                *_NO_PADDING,
                ("VALIGN", (0, 0), (-1, 0), "TOP"),
                ("VALIGN", (0, 1), (-1, 1), "BOTTOM"),
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                ("TOPPADDING", (0, 1), (-1, 1), 4),
            ]
        )
    )
    return header


def _pdf_title(content: MinutesContent) -> list[platypus.Flowable]:
    story: list[platypus.Flowable] = [
        platypus.Spacer(1, 18),
        platypus.Paragraph(escape(content.title), _style(Role.TITLE, bold=True, spaceAfter=2)),
        platypus.Paragraph(escape(content.subject), _style(Role.SUBJECT, bold=True)),
    ]
    if content.correction:
        story.append(
            platypus.Paragraph(escape(content.correction), _style(Role.CORRECTION, italic=True))
        )
    story.append(platypus.Spacer(1, 14))
    return story


def _pdf_table(table: Table) -> list[platypus.Flowable]:
    head = _style(Role.TABLE, bold=True)
    centred, left = _style(Role.TABLE), _style(Role.TABLE, alignment=TA_LEFT)
    data = [[platypus.Paragraph(escape(h), head) for h in table.header]]
    for row in table.rows:
        data.append(
            [
                platypus.Paragraph(escape(value), left if column == 1 else centred)
                for column, value in enumerate(row)
            ]
        )
    flowable = platypus.Table(data, colWidths=[w * mm for w in ATTENDANCE_WIDTHS], repeatRows=1)
    flowable.setStyle(
        platypus.TableStyle(
            [
                _CELL_FONT,
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return [flowable, platypus.Spacer(1, 8)]


def _pdf_ending(content: MinutesContent) -> platypus.Flowable:
    """The closing line, the signatures and "Nơi nhận", kept on one page."""
    caption = _style(Role.SIGNATURE, bold=True)
    space = SIGNATURE_SPACE_MM * mm
    signatures = platypus.Table(
        [
            [platypus.Paragraph(escape(s.caption), caption) for s in content.signatures],
            [platypus.Spacer(1, space) for _ in content.signatures],
            [platypus.Paragraph(escape(s.name), caption) for s in content.signatures],
        ],
        colWidths=[TEXT_W / 2 * mm, TEXT_W / 2 * mm],
    )
    signatures.setStyle(platypus.TableStyle(_NO_PADDING))
    label = _style(Role.RECIPIENTS_LABEL, bold=True, italic=True, alignment=TA_LEFT)
    line = _style(Role.RECIPIENT, alignment=TA_LEFT, leading=PDF_PT[Role.RECIPIENT] * 1.2)
    return platypus.KeepTogether(
        [
            platypus.Paragraph(_markup(content.closing), _style(Role.BODY, **_BODY)),
            platypus.Spacer(1, 10),
            signatures,
            platypus.Spacer(1, 14),
            platypus.Paragraph(escape(content.recipients_label), label),
            *(platypus.Paragraph(escape(text), line) for text in content.recipients),
        ]
    )


def _page_number(canvas: Canvas, _template: Any) -> None:
    """Pages after the first: the number, centred in the top margin."""
    size = PDF_PT[Role.PAGE_NUMBER]
    canvas.saveState()
    canvas.setFont(FONT, size)
    x = (MARGIN_LEFT + TEXT_W / 2) * mm
    y = (PAGE_H - MARGIN_TOP / 2) * mm - size / 3
    canvas.drawCentredString(x, y, str(canvas.getPageNumber()))
    canvas.restoreState()


def render_pdf(content: MinutesContent) -> bytes:
    """The minutes as an A4 PDF, DejaVu Serif embedded (subsets with a ToUnicode map, so the
    text extracts exactly), page numbers from page 2 on."""
    with _PDF_LOCK:
        return _render_pdf(content)


def _render_pdf(content: MinutesContent) -> bytes:
    _register_fonts()
    body = _style(Role.BODY, **_BODY)
    lead_in = _style(Role.BODY, keepWithNext=1, **_BODY)
    story: list[platypus.Flowable] = [_pdf_header(content), *_pdf_title(content)]
    for block in content.body:
        if isinstance(block, Paragraph):
            story.append(
                platypus.Paragraph(_markup(block), lead_in if block.keep_with_next else body)
            )
        else:
            story += _pdf_table(block)
    story.append(_pdf_ending(content))

    out = BytesIO()
    template = platypus.SimpleDocTemplate(
        out,
        pagesize=A4,
        topMargin=MARGIN_TOP * mm,
        bottomMargin=MARGIN_BOTTOM * mm,
        leftMargin=MARGIN_LEFT * mm,
        rightMargin=MARGIN_RIGHT * mm,
        title=content.subject,
        author=content.issuing_body,
        subject=content.description,
        creator="giaoban",
        lang="vi-VN",
        initialFontName=FONT,  # otherwise every page names an unembedded Helvetica
        initialFontSize=PDF_PT[Role.BODY],
    )
    template.build(story, onLaterPages=_page_number)
    return out.getvalue()
