"""The minutes as a Word document: Decree 30's page, Times New Roman, page numbers from page
two, and exactly the content it is given."""

from __future__ import annotations

from io import BytesIO

import docx
import pytest
from docx.oxml.ns import qn
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph as DocxParagraph

from recordings.minutes_content import content_of
from recordings.minutes_docx import render_docx
from tests.recordings.minutes_kit import (
    EXPECTED,
    GIVEN,
    PRESENTATION_LINES,
    PRESENTATIONS,
    docx_text,
    flat,
    minutes,
)


@pytest.fixture(scope="module")
def docx_bytes() -> bytes:
    return render_docx(content_of(minutes()))


def reading_order(data: bytes) -> list[str]:
    """The document's text in the order it is read: each paragraph, each table row."""
    document = docx.Document(BytesIO(data))
    out = []
    for child in document.element.body.iterchildren():
        if child.tag == qn("w:p"):
            out.append(DocxParagraph(child, document).text)
        elif child.tag == qn("w:tbl"):
            for row in DocxTable(child, document).rows:
                out.append(" ".join(cell.text for cell in row.cells))
    return [flat(text) for text in out if flat(text)]


def test_docx_has_the_same_labels_and_names(docx_bytes: bytes) -> None:
    text = docx_text(docx_bytes)
    for expected in EXPECTED:
        assert expected in text, expected


def test_docx_page_is_a4_with_the_decree_margins(docx_bytes: bytes) -> None:
    section = docx.Document(BytesIO(docx_bytes)).sections[0]
    assert section.page_width is not None and section.page_height is not None
    assert section.page_width.mm == pytest.approx(210, abs=0.1)
    assert section.page_height.mm == pytest.approx(297, abs=0.1)
    margins = (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
    assert [m.mm if m is not None else None for m in margins] == pytest.approx(
        [20, 20, 30, 15], abs=0.1
    )


def test_docx_font_is_times_new_roman_for_every_script(docx_bytes: bytes) -> None:
    normal = docx.Document(BytesIO(docx_bytes)).styles["Normal"]
    fonts = normal.element.get_or_add_rPr().find(qn("w:rFonts"))
    assert fonts is not None
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        assert fonts.get(qn(attribute)) == "Times New Roman"
    assert normal.font.size is not None and normal.font.size.pt == 14


def test_docx_numbers_pages_from_two_in_the_header(docx_bytes: bytes) -> None:
    section = docx.Document(BytesIO(docx_bytes)).sections[0]
    assert section.different_first_page_header_footer
    assert "PAGE" in section.header._element.xml
    assert "PAGE" not in section.first_page_header._element.xml


def test_docx_body_is_justified_with_a_first_line_indent(docx_bytes: bytes) -> None:
    document = docx.Document(BytesIO(docx_bytes))
    start = next(p for p in document.paragraphs if p.text.startswith("Thời gian bắt đầu"))
    assert start.alignment is not None and start.alignment.name == "JUSTIFY"
    indent = start.paragraph_format.first_line_indent
    assert indent is not None and 10 <= indent.mm <= 12.7


def test_docx_of_a_correction_names_the_version_it_replaces() -> None:
    line = "(Bản điều chỉnh, thay thế phiên bản 1)"
    corrected = minutes(version=2, replaces_version=1)
    assert line in docx_text(render_docx(content_of(corrected)))


def test_docx_of_minutes_without_attendance_or_links_still_renders() -> None:
    bare = minutes(attendance=(), recording_links=(), sections=(), general_conclusions="")
    assert "CHỦ TỌA" in docx_text(render_docx(content_of(bare)))


# --- the contract: the content given, all of it, in order, and nothing else ---------------


def test_docx_renders_the_content_it_is_given_in_reading_order() -> None:
    assert reading_order(render_docx(GIVEN)) == [
        "CƠ QUAN CHỦ QUẢN THỬ CƠ QUAN BAN HÀNH THỬ QUỐC HIỆU THỬ NGHIỆM Tiêu ngữ - thử - nghiệm",
        "Ký hiệu: 07/TH-XYZ Đồng Hới, hôm nay",
        "TỜ GHI CHÉP",
        "Phiên họp thử nghiệm kết xuất",
        "(Dòng điều chỉnh thử)",
        "Đoạn mở đầu có chữ đậm và hết.",
        "Số Điểm họp Lúc vào Lúc ra Người Lưu ý",
        "1 Ô một 06:01 3 Đủ",
        "2 Ô ba 06:02 09:00",
        "Ghi chú: liên kết https://x.vn/1",
        "Dòng kết thúc thử/.",
        "NGƯỜI GHI Nguyễn Thị Ấu NGƯỜI CHỦ TRÌ Phạm Văn Ưng",
        "Gửi tới:",
        "- Nơi một;",
        "- Nơi cuối.",
    ]


def test_docx_keeps_the_runs_styles_and_the_lead_ins_with_what_follows() -> None:
    document = docx.Document(BytesIO(render_docx(GIVEN)))
    opening = next(p for p in document.paragraphs if p.text.startswith("Đoạn mở đầu"))
    assert [(r.text, bool(r.bold)) for r in opening.runs] == [
        ("Đoạn mở đầu có ", False),
        ("chữ đậm", True),
        (" và hết.", False),
    ]
    assert opening.paragraph_format.keep_with_next
    note = next(p for p in document.paragraphs if p.text.startswith("Ghi chú"))
    assert [(r.text, bool(r.italic)) for r in note.runs] == [
        ("Ghi chú: ", True),
        ("liên kết ", False),
        ("https://x.vn/1", False),
    ]
    assert not note.paragraph_format.keep_with_next


def test_docx_properties_are_the_contents() -> None:
    core = docx.Document(BytesIO(render_docx(GIVEN))).core_properties
    assert (core.title, core.author, core.subject) == (
        "Phiên họp thử nghiệm kết xuất",
        "CƠ QUAN BAN HÀNH THỬ",
        "Tài liệu thử, bản 3",
    )


def test_docx_lists_who_presented_content() -> None:
    lines = reading_order(render_docx(content_of(minutes(presentations=PRESENTATIONS))))
    start = lines.index("Trình bày nội dung:")
    assert tuple(lines[start : start + 3]) == PRESENTATION_LINES
    assert "Trình bày nội dung" not in docx_text(render_docx(content_of(minutes())))
