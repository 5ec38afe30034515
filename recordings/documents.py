"""The minutes ("biên bản") of a meeting as a PDF and a DOCX.

Laid out as Decree 30/2020/NĐ-CP asks (Appendix I for presentation, Appendix III form 1.9 for
the biên bản; see docs/minutes.md). Pure functions of a ``MinutesContent``
(``recordings.minutes_content``), which says everything; the renderers add only layout.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Sequence
from enum import Enum
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import docx
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table as DocxTable
from docx.table import _Cell
from docx.text.paragraph import Paragraph as DocxParagraph
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

# Page geometry (mm): A4, margins top 20, bottom 20, left 30, right 15; header columns.
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_RIGHT = 20.0, 20.0, 30.0, 15.0
TEXT_W = PAGE_W - MARGIN_LEFT - MARGIN_RIGHT  # 165
HEADER_LEFT_W = 63.0
HEADER_RIGHT_W = TEXT_W - HEADER_LEFT_W  # 100
FIRST_LINE_INDENT_MM = 10.0
SIGNATURE_SPACE_MM = 25.0

# Attendance table: column widths (mm, summing to TEXT_W).
ATTENDANCE_WIDTHS = (10.0, 61.0, 22.0, 22.0, 22.0, 28.0)


class _Role(Enum):
    """What a piece of text is; each renderer maps roles to its own size and weight."""

    GOVERNING = "governing"
    ISSUING = "issuing"
    NUMBER = "number"
    NATIONAL = "national"
    MOTTO = "motto"
    DATE_LINE = "date_line"
    TITLE = "title"
    SUBJECT = "subject"
    CORRECTION = "correction"
    BODY = "body"
    TABLE = "table"
    SIGNATURE = "signature"
    RECIPIENTS_LABEL = "recipients_label"
    RECIPIENT = "recipient"
    PAGE_NUMBER = "page_number"


# Sizes in points. DejaVu Serif (PDF) is about 15 % wider than Times New Roman (DOCX), so the
# PDF sits at the low end of the decree's ranges; single lines that must not wrap are shrunk
# further to fit their column (see _fit).
PDF_PT: dict[_Role, float] = {
    _Role.GOVERNING: 12,
    _Role.ISSUING: 12,
    _Role.NUMBER: 13,
    _Role.NATIONAL: 12,
    _Role.MOTTO: 13,
    _Role.DATE_LINE: 13,
    _Role.TITLE: 14,
    _Role.SUBJECT: 13,
    _Role.CORRECTION: 13,
    _Role.BODY: 13,
    _Role.TABLE: 11,
    _Role.SIGNATURE: 13,
    _Role.RECIPIENTS_LABEL: 12,
    _Role.RECIPIENT: 11,
    _Role.PAGE_NUMBER: 13,
}
DOCX_PT: dict[_Role, float] = {
    _Role.GOVERNING: 13,
    _Role.ISSUING: 13,
    _Role.NUMBER: 13,
    _Role.NATIONAL: 12,
    _Role.MOTTO: 13,
    _Role.DATE_LINE: 14,
    _Role.TITLE: 14,
    _Role.SUBJECT: 14,
    _Role.CORRECTION: 14,
    _Role.BODY: 14,
    _Role.TABLE: 12,
    _Role.SIGNATURE: 14,
    _Role.RECIPIENTS_LABEL: 12,
    _Role.RECIPIENT: 11,
    _Role.PAGE_NUMBER: 13,
}


# --- PDF -------------------------------------------------------------------------------------

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


def _style(role: _Role, *, bold: bool = False, italic: bool = False, **kw: Any) -> ParagraphStyle:
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
_CELL_FONT = ("FONT", (0, 0), (-1, -1), FONT, PDF_PT[_Role.TABLE])  # else Helvetica is named
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
        left.append(platypus.Paragraph(escape(content.governing_body), _style(_Role.GOVERNING)))
    issuing = content.issuing_body
    issuing_style = _style(_Role.ISSUING, bold=True)
    left.append(platypus.Paragraph(escape(issuing), issuing_style))
    issuing_w = pdfmetrics.stringWidth(issuing, issuing_style.fontName, issuing_style.fontSize)
    left.append(_rule(max(min(issuing_w, HEADER_LEFT_W * mm) * 0.4, 12 * mm)))

    national, motto = content.national_title, content.motto
    national_size = _fit(
        national, _face(bold=True), PDF_PT[_Role.NATIONAL], HEADER_RIGHT_W * mm, 10
    )
    motto_style = _style(_Role.MOTTO, bold=True)
    right: list[platypus.Flowable] = [
        platypus.Paragraph(escape(national), _style(_Role.NATIONAL, bold=True, size=national_size)),
        platypus.Paragraph(escape(motto), motto_style),
        _rule(pdfmetrics.stringWidth(motto, motto_style.fontName, motto_style.fontSize)),
    ]
    dated = content.date_line
    date_size = _fit(dated, _face(italic=True), PDF_PT[_Role.DATE_LINE], HEADER_RIGHT_W * mm, 12)
    header = platypus.Table(
        [
            [left, right],
            [
                platypus.Paragraph(escape(content.number_line), _style(_Role.NUMBER)),
                platypus.Paragraph(
                    escape(dated), _style(_Role.DATE_LINE, italic=True, size=date_size)
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
        platypus.Paragraph(escape(content.title), _style(_Role.TITLE, bold=True, spaceAfter=2)),
        platypus.Paragraph(escape(content.subject), _style(_Role.SUBJECT, bold=True)),
    ]
    if content.correction:
        story.append(
            platypus.Paragraph(escape(content.correction), _style(_Role.CORRECTION, italic=True))
        )
    story.append(platypus.Spacer(1, 14))
    return story


def _pdf_table(table: Table) -> list[platypus.Flowable]:
    head = _style(_Role.TABLE, bold=True)
    centred, left = _style(_Role.TABLE), _style(_Role.TABLE, alignment=TA_LEFT)
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
    caption = _style(_Role.SIGNATURE, bold=True)
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
    label = _style(_Role.RECIPIENTS_LABEL, bold=True, italic=True, alignment=TA_LEFT)
    line = _style(_Role.RECIPIENT, alignment=TA_LEFT, leading=PDF_PT[_Role.RECIPIENT] * 1.2)
    return platypus.KeepTogether(
        [
            platypus.Paragraph(_markup(content.closing), _style(_Role.BODY, **_BODY)),
            platypus.Spacer(1, 10),
            signatures,
            platypus.Spacer(1, 14),
            platypus.Paragraph(escape(content.recipients_label), label),
            *(platypus.Paragraph(escape(text), line) for text in content.recipients),
        ]
    )


def _page_number(canvas: Canvas, _template: Any) -> None:
    """Pages after the first: the number, centred in the top margin."""
    size = PDF_PT[_Role.PAGE_NUMBER]
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
    body = _style(_Role.BODY, **_BODY)
    lead_in = _style(_Role.BODY, keepWithNext=1, **_BODY)
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
        initialFontSize=PDF_PT[_Role.BODY],
    )
    template.build(story, onLaterPages=_page_number)
    return out.getvalue()


# --- DOCX ------------------------------------------------------------------------------------

DOCX_FONT = "Times New Roman"
_PT_PER_MM = 72 / 25.4


def _times_width(text: str, size: float, bold: bool) -> float:
    """Width in points of ``text`` in Times New Roman, from reportlab's standard Times metrics
    (the letters without their diacritics, which do not change the advance width)."""
    bare = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    bare = "".join(c for c in bare if not unicodedata.combining(c))
    return pdfmetrics.stringWidth(bare, "Times-Bold" if bold else "Times-Roman", size)


def _child(parent: Any, tag: str) -> Any:
    """``parent``'s ``tag`` element, added when missing."""
    found = parent.find(qn(tag))
    if found is None:
        found = OxmlElement(tag)
        parent.append(found)
    return found


def _docx_setup(document: DocxDocument, content: MinutesContent) -> None:
    """A4, the decree's margins, Times New Roman for every script, Vietnamese, properties."""
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(PAGE_W), Mm(PAGE_H)
    section.top_margin, section.bottom_margin = Mm(MARGIN_TOP), Mm(MARGIN_BOTTOM)
    section.left_margin, section.right_margin = Mm(MARGIN_LEFT), Mm(MARGIN_RIGHT)
    section.header_distance = Mm(MARGIN_TOP / 2 - 2)

    normal = document.styles["Normal"]
    normal.font.name = DOCX_FONT
    normal.font.size = Pt(DOCX_PT[_Role.BODY])
    r_pr = normal.element.get_or_add_rPr()
    fonts = _child(r_pr, "w:rFonts")
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), DOCX_FONT)
    _child(r_pr, "w:szCs").set(qn("w:val"), str(round(DOCX_PT[_Role.BODY] * 2)))
    language = _child(r_pr, "w:lang")
    for attribute in ("w:val", "w:eastAsia", "w:bidi"):
        language.set(qn(attribute), "vi-VN")
    fmt = normal.paragraph_format
    fmt.space_before, fmt.space_after, fmt.line_spacing = Pt(0), Pt(0), 1.0

    core = document.core_properties
    core.title = content.subject
    core.author = content.issuing_body
    core.subject = content.description
    core.language = "vi-VN"


def _write(
    paragraph: DocxParagraph,
    text: str,
    role: _Role,
    *,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.CENTER,
) -> DocxParagraph:
    paragraph.alignment = align
    if text:
        run = paragraph.add_run(text)
        run.bold, run.italic = bold, italic
        run.font.size = Pt(DOCX_PT[role])
    return paragraph


def _docx_rule(cell: _Cell, width_pt: float, column_pt: float) -> None:
    """A solid rule ``width_pt`` long, centred: the bottom border of an empty, 2 pt high
    paragraph indented from both sides."""
    paragraph = cell.add_paragraph()
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000")):
        bottom.set(qn(key), value)
    # First, so python-docx inserts spacing and indents after it (the schema's order).
    _child(paragraph._p.get_or_add_pPr(), "w:pBdr").append(bottom)
    fmt = paragraph.paragraph_format
    fmt.left_indent = fmt.right_indent = Pt(max(0.0, (column_pt - width_pt) / 2))
    fmt.line_spacing = Pt(2)
    fmt.space_after = Pt(2)


def _fixed_table(document: DocxDocument, rows: int, widths_mm: Sequence[float]) -> DocxTable:
    """A centred table with fixed column widths (set on the grid, which LibreOffice reads,
    and on every cell, which Word reads); the default table style has no borders."""
    table = document.add_table(rows=rows, cols=len(widths_mm))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(width)
    for row in table.rows:
        for cell, width in zip(row.cells, widths_mm, strict=True):
            cell.width = Mm(width)
    return table


def _docx_header(document: DocxDocument, content: MinutesContent) -> None:
    header = _fixed_table(document, 2, (HEADER_LEFT_W, HEADER_RIGHT_W))
    left, right = header.rows[0].cells
    left_pt, right_pt = HEADER_LEFT_W * _PT_PER_MM, HEADER_RIGHT_W * _PT_PER_MM
    first = left.paragraphs[0]
    if content.governing_body:
        _write(first, content.governing_body, _Role.GOVERNING)
        first = left.add_paragraph()
    issuing = content.issuing_body
    _write(first, issuing, _Role.ISSUING, bold=True)
    issuing_pt = min(_times_width(issuing, DOCX_PT[_Role.ISSUING], True), left_pt)
    _docx_rule(left, max(issuing_pt * 0.4, 12 * _PT_PER_MM), left_pt)
    _write(right.paragraphs[0], content.national_title, _Role.NATIONAL, bold=True)
    _write(right.add_paragraph(), content.motto, _Role.MOTTO, bold=True)
    _docx_rule(right, _times_width(content.motto, DOCX_PT[_Role.MOTTO], True) + 2, right_pt)

    number_cell, date_cell = header.rows[1].cells
    number = _write(number_cell.paragraphs[0], content.number_line, _Role.NUMBER)
    dated = _write(date_cell.paragraphs[0], content.date_line, _Role.DATE_LINE, italic=True)
    for paragraph in (number, dated):
        paragraph.paragraph_format.space_before = Pt(4)
    for cell in (number_cell, date_cell):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM


def _docx_title(document: DocxDocument, content: MinutesContent) -> None:
    title = _write(document.add_paragraph(), content.title, _Role.TITLE, bold=True)
    title.paragraph_format.space_before = Pt(18)
    last = _write(document.add_paragraph(), content.subject, _Role.SUBJECT, bold=True)
    if content.correction:
        last = _write(document.add_paragraph(), content.correction, _Role.CORRECTION, italic=True)
    last.paragraph_format.space_after = Pt(12)


def _docx_body_paragraph(document: DocxDocument, para: Paragraph) -> DocxParagraph:
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    fmt = paragraph.paragraph_format
    fmt.first_line_indent = Mm(FIRST_LINE_INDENT_MM)
    fmt.space_after = Pt(6)
    fmt.keep_with_next = para.keep_with_next
    for piece in para.runs:
        run = paragraph.add_run(piece.text)
        run.bold, run.italic = piece.bold, piece.italic
    return paragraph


def _docx_table(document: DocxDocument, table: Table) -> None:
    grid = _fixed_table(document, 1 + len(table.rows), ATTENDANCE_WIDTHS)
    grid.style = document.styles["Table Grid"]
    for r, values in enumerate((table.header, *table.rows)):
        for c, value in enumerate(values):
            cell = grid.cell(r, c)
            align = WD_ALIGN_PARAGRAPH.LEFT if c == 1 and r else WD_ALIGN_PARAGRAPH.CENTER
            _write(cell.paragraphs[0], value, _Role.TABLE, bold=r == 0, align=align)
    grid.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))  # repeat on pages
    document.add_paragraph()


def _docx_ending(document: DocxDocument, content: MinutesContent) -> None:
    closing = _docx_body_paragraph(document, content.closing)
    closing.paragraph_format.space_after = Pt(12)
    closing.paragraph_format.keep_with_next = True

    signatures = _fixed_table(document, 1, (TEXT_W / 2, TEXT_W / 2))
    row = signatures.rows[0]
    row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
    for cell, signature in zip(row.cells, content.signatures, strict=True):
        _write(cell.paragraphs[0], signature.caption, _Role.SIGNATURE, bold=True)
        name = _write(cell.add_paragraph(), signature.name, _Role.SIGNATURE, bold=True)
        name.paragraph_format.space_before = Mm(SIGNATURE_SPACE_MM)

    label = _write(
        document.add_paragraph(),
        content.recipients_label,
        _Role.RECIPIENTS_LABEL,
        bold=True,
        italic=True,
        align=WD_ALIGN_PARAGRAPH.LEFT,
    )
    label.paragraph_format.space_before = Pt(12)
    for line in content.recipients:
        _write(document.add_paragraph(), line, _Role.RECIPIENT, align=WD_ALIGN_PARAGRAPH.LEFT)


def _docx_page_numbers(document: DocxDocument) -> None:
    """A PAGE field centred in the header; the first page has its own, empty header."""
    section = document.sections[0]
    section.different_first_page_header_footer = True
    paragraph = section.header.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run()
    run.font.size = Pt(DOCX_PT[_Role.PAGE_NUMBER])

    def field_char(kind: str) -> Any:
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        return element

    instruction = OxmlElement("w:instrText")
    instruction.set(qn("xml:space"), "preserve")
    instruction.text = "PAGE"
    shown = OxmlElement("w:t")
    shown.text = "2"  # what readers that do not compute fields show
    for element in (field_char("begin"), instruction, field_char("separate"), shown):
        run._r.append(element)
    run._r.append(field_char("end"))


def render_docx(content: MinutesContent) -> bytes:
    """The minutes as a Word document: A4, the decree's margins, Times New Roman (readers
    substitute a metric-compatible font where it is missing), page numbers from page 2 on."""
    document = docx.Document()
    _docx_setup(document, content)
    _docx_header(document, content)
    _docx_title(document, content)
    for block in content.body:
        if isinstance(block, Paragraph):
            _docx_body_paragraph(document, block)
        else:
            _docx_table(document, block)
    _docx_ending(document, content)
    _docx_page_numbers(document)
    out = BytesIO()
    document.save(out)
    return out.getvalue()
