"""The minutes ("biên bản") of a meeting as a Word document (python-docx).

Laid out as Decree 30/2020/NĐ-CP asks (Appendix I for presentation, Appendix III form 1.9 for
the biên bản; see docs/minutes.md) on ``recordings.minutes_page``'s page. A pure function of
a ``MinutesContent`` (``recordings.minutes_content``), which says everything: this module adds
only layout.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from io import BytesIO
from typing import Any

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
from reportlab.pdfbase import pdfmetrics

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
    PAGE_W,
    SIGNATURE_SPACE_MM,
    TEXT_W,
    Role,
)

# Sizes in points: the decree's, for Times New Roman (the PDF's DejaVu Serif is wider and sits
# lower in the ranges; see recordings.minutes_pdf).
DOCX_PT: dict[Role, float] = {
    Role.GOVERNING: 13,
    Role.ISSUING: 13,
    Role.NUMBER: 13,
    Role.NATIONAL: 12,
    Role.MOTTO: 13,
    Role.DATE_LINE: 14,
    Role.TITLE: 14,
    Role.SUBJECT: 14,
    Role.CORRECTION: 14,
    Role.BODY: 14,
    Role.TABLE: 12,
    Role.SIGNATURE: 14,
    Role.RECIPIENTS_LABEL: 12,
    Role.RECIPIENT: 11,
    Role.PAGE_NUMBER: 13,
}

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
    normal.font.size = Pt(DOCX_PT[Role.BODY])
    r_pr = normal.element.get_or_add_rPr()
    fonts = _child(r_pr, "w:rFonts")
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), DOCX_FONT)
    _child(r_pr, "w:szCs").set(qn("w:val"), str(round(DOCX_PT[Role.BODY] * 2)))
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
    role: Role,
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
        _write(first, content.governing_body, Role.GOVERNING)
        first = left.add_paragraph()
    issuing = content.issuing_body
    _write(first, issuing, Role.ISSUING, bold=True)
    issuing_pt = min(_times_width(issuing, DOCX_PT[Role.ISSUING], True), left_pt)
    _docx_rule(left, max(issuing_pt * 0.4, 12 * _PT_PER_MM), left_pt)
    _write(right.paragraphs[0], content.national_title, Role.NATIONAL, bold=True)
    _write(right.add_paragraph(), content.motto, Role.MOTTO, bold=True)
    _docx_rule(right, _times_width(content.motto, DOCX_PT[Role.MOTTO], True) + 2, right_pt)

    number_cell, date_cell = header.rows[1].cells
    number = _write(number_cell.paragraphs[0], content.number_line, Role.NUMBER)
    dated = _write(date_cell.paragraphs[0], content.date_line, Role.DATE_LINE, italic=True)
    for paragraph in (number, dated):
        paragraph.paragraph_format.space_before = Pt(4)
    for cell in (number_cell, date_cell):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM


def _docx_title(document: DocxDocument, content: MinutesContent) -> None:
    title = _write(document.add_paragraph(), content.title, Role.TITLE, bold=True)
    title.paragraph_format.space_before = Pt(18)
    last = _write(document.add_paragraph(), content.subject, Role.SUBJECT, bold=True)
    if content.correction:
        last = _write(document.add_paragraph(), content.correction, Role.CORRECTION, italic=True)
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
            _write(cell.paragraphs[0], value, Role.TABLE, bold=r == 0, align=align)
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
        _write(cell.paragraphs[0], signature.caption, Role.SIGNATURE, bold=True)
        name = _write(cell.add_paragraph(), signature.name, Role.SIGNATURE, bold=True)
        name.paragraph_format.space_before = Mm(SIGNATURE_SPACE_MM)

    label = _write(
        document.add_paragraph(),
        content.recipients_label,
        Role.RECIPIENTS_LABEL,
        bold=True,
        italic=True,
        align=WD_ALIGN_PARAGRAPH.LEFT,
    )
    label.paragraph_format.space_before = Pt(12)
    for line in content.recipients:
        _write(document.add_paragraph(), line, Role.RECIPIENT, align=WD_ALIGN_PARAGRAPH.LEFT)


def _docx_page_numbers(document: DocxDocument) -> None:
    """A PAGE field centred in the header; the first page has its own, empty header."""
    section = document.sections[0]
    section.different_first_page_header_footer = True
    paragraph = section.header.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run()
    run.font.size = Pt(DOCX_PT[Role.PAGE_NUMBER])

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
