"""The minutes as PDF, DOCX and text: Decree 30's layout, every Vietnamese letter intact."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import docx
import pypdf
import pytest
from docx.oxml.ns import qn

from recordings.documents import render_docx, render_pdf
from recordings.minutes_content import (
    AgendaSection,
    AttendanceLine,
    MinutesDocument,
    SpeakerTurn,
    content_of,
    date_words,
    plain_text,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HALLS = (
    "Hội trường UBND tỉnh Quảng Bình",
    "Điểm cầu Đồng Hới",
    "Điểm cầu Lệ Thủy",
    "Điểm cầu Quảng Ninh",
    "Điểm cầu Bố Trạch",
)
LABELS = (
    "Thời gian bắt đầu:",
    "Địa điểm:",
    "Thành phần tham dự:",
    "Chủ trì (chủ toạ):",
    "Thư ký (người ghi biên bản):",
    "Nội dung (theo diễn biến cuộc họp/hội nghị/hội thảo):",
    "Cuộc họp (hội nghị, hội thảo) kết thúc vào 11 giờ 30, ngày 05 tháng 01 năm 2026/.",
)
EXPECTED = (
    *HALLS,
    *LABELS,
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "UBND TỈNH QUẢNG BÌNH",
    "VĂN PHÒNG UBND TỈNH",
    "Số: 05/BB-UBND",
    "Quảng Bình, ngày 05 tháng 01 năm 2026",
    "BIÊN BẢN",
    "Hội nghị giao ban trực tuyến tháng 01 năm 2026",
    "Thời gian bắt đầu: 08 giờ 00, ngày 05 tháng 01 năm 2026",
    "1. Tình hình kinh tế - xã hội tháng 12 năm 2025",
    "2. Công tác phòng, chống lụt bão",
    "Điểm cầu Đồng Hới (4 phút 30 giây); Điểm cầu Lệ Thủy (3 phút)",
    "Kết luận: Giao Sở Tài chính chủ trì",
    "https://giaoban.example.vn/recordings/42",
    "THƯ KÝ",
    "CHỦ TỌA",
    "Lê Thị Hồng Nhung",
    "Trần Văn Phúc",
    "Nơi nhận:",
    "- Thường trực Tỉnh ủy (b/c);",
    "- Lưu: VT, Hồ sơ.",
)


def minutes(**changes: Any) -> MinutesDocument:
    """The Quảng Bình demo's monthly briefing: five halls, two agenda items."""
    document = MinutesDocument(
        governing_body="UBND TỈNH QUẢNG BÌNH",
        issuing_body="VĂN PHÒNG UBND TỈNH",
        number="05/BB-UBND",
        place="Quảng Bình",
        date=dt.date(2026, 1, 5),
        subject="Hội nghị giao ban trực tuyến tháng 01 năm 2026",
        started=dt.datetime(2026, 1, 5, 8, 0, tzinfo=TZ),
        ended=dt.datetime(2026, 1, 5, 11, 30, tzinfo=TZ),
        location=(
            "Điểm cầu chính: Hội trường UBND tỉnh Quảng Bình; các điểm cầu: Đồng Hới, Lệ Thủy,"
            " Quảng Ninh, Bố Trạch"
        ),
        attendance=tuple(
            AttendanceLine(hall, f"07:5{i}", "11:30" if i == 0 else "", 30 - 4 * i, i != 4)
            for i, hall in enumerate(HALLS)
        ),
        chair="Ông Trần Văn Phúc, Phó Chủ tịch UBND tỉnh",
        secretary="Bà Lê Thị Hồng Nhung, chuyên viên Văn phòng UBND tỉnh",
        sections=(
            AgendaSection(
                title="Tình hình kinh tế - xã hội tháng 12 năm 2025",
                presenter="Sở Tài chính",
                turns=(
                    SpeakerTurn("Điểm cầu Đồng Hới", 4.5),
                    SpeakerTurn("Điểm cầu Lệ Thủy", 3.0),
                ),
                content=(
                    "Sở Tài chính báo cáo tình hình thực hiện các chỉ tiêu kinh tế - xã hội;"
                    " tổng sản phẩm trên địa bàn tăng 7,2% so với cùng kỳ.\n"
                    "Các điểm cầu nêu khó khăn về giải ngân vốn đầu tư công."
                ),
                conclusions="Giao Sở Tài chính chủ trì, đẩy nhanh giải ngân vốn đầu tư công.",
            ),
            AgendaSection(
                title="Công tác phòng, chống lụt bão",
                presenter="Ban Chỉ huy Phòng chống thiên tai và Tìm kiếm cứu nạn tỉnh",
                turns=(SpeakerTurn("Điểm cầu Quảng Ninh", 2.25),),
                content="Báo cáo thiệt hại do mưa lũ cuối năm; đề xuất hỗ trợ khắc phục hậu quả.",
                conclusions="Thống nhất hỗ trợ; giao Sở Nông nghiệp và Môi trường tổng hợp.",
            ),
        ),
        general_conclusions="Các sở, ngành, địa phương tập trung triển khai nhiệm vụ tháng 01.",
        recording_links=("https://giaoban.example.vn/recordings/42",),
        recipients=(
            "Thường trực Tỉnh ủy (b/c)",
            "Chủ tịch, các PCT UBND tỉnh",
            "Các sở, ban, ngành",
            "Lưu: VT, Hồ sơ.",
        ),
    )
    return dataclasses.replace(document, **changes)


def long_minutes() -> MinutesDocument:
    base = minutes()
    sections = tuple(
        dataclasses.replace(
            base.sections[0],
            title=f"Nội dung thứ {i}",
            content="\n".join(["Ý kiến thảo luận về tiến độ thực hiện nhiệm vụ được giao."] * 6),
        )
        for i in range(1, 13)
    )
    return dataclasses.replace(base, sections=sections)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def pdf_text(pdf: bytes) -> str:
    return flat(" ".join(page.extract_text() for page in pypdf.PdfReader(BytesIO(pdf)).pages))


def docx_text(data: bytes) -> str:
    document = docx.Document(BytesIO(data))
    texts = [p.text for p in document.paragraphs]
    for table in document.tables:
        texts += [cell.text for row in table.rows for cell in row.cells]
    return flat(" ".join(texts))


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_pdf(content_of(minutes()))


@pytest.fixture(scope="module")
def docx_bytes() -> bytes:
    return render_docx(content_of(minutes()))


# --- PDF -------------------------------------------------------------------------------------


def test_pdf_is_a4(pdf: bytes) -> None:
    for page in pypdf.PdfReader(BytesIO(pdf)).pages:
        assert float(page.mediabox.width) == pytest.approx(595.28, abs=0.5)
        assert float(page.mediabox.height) == pytest.approx(841.89, abs=0.5)


def test_pdf_embeds_dejavu_serif_in_four_styles_and_no_other_font(pdf: bytes) -> None:
    names = set()
    for page in pypdf.PdfReader(BytesIO(pdf)).pages:
        resources: Any = page["/Resources"]
        for ref in resources["/Font"].values():
            font = ref.get_object()
            base = str(font["/BaseFont"])
            assert re.fullmatch(r"/[A-Z]{6}\+DejaVuSerif(-\w+)?", base), base
            assert "/FontFile2" in font["/FontDescriptor"].get_object(), f"{base} not embedded"
            assert "/ToUnicode" in font
            names.add(base.split("+", 1)[1])
    assert names == {
        "DejaVuSerif",
        "DejaVuSerif-Bold",
        "DejaVuSerif-Italic",
        "DejaVuSerif-BoldItalic",
    }


def test_pdf_text_comes_back_with_every_diacritic(pdf: bytes) -> None:
    text = pdf_text(pdf)
    for expected in EXPECTED:
        assert expected in text, expected


def test_pdf_says_what_the_plain_text_says(pdf: bytes) -> None:
    text = pdf_text(pdf)
    for line in plain_text(content_of(minutes())).splitlines():
        assert flat(line) in text, line


def test_pdf_first_page_has_no_number_and_later_pages_do() -> None:
    pages = pypdf.PdfReader(BytesIO(render_pdf(content_of(long_minutes())))).pages
    assert len(pages) >= 3
    assert pages[0].extract_text().lstrip().startswith("UBND TỈNH QUẢNG BÌNH")
    for number, page in enumerate(pages[1:], start=2):
        assert page.extract_text().lstrip().startswith(f"{number}\n"), number


def test_pdf_carries_title_and_author_metadata(pdf: bytes) -> None:
    info = pypdf.PdfReader(BytesIO(pdf)).metadata
    assert info is not None
    assert info.title == "Hội nghị giao ban trực tuyến tháng 01 năm 2026"
    assert info.author == "VĂN PHÒNG UBND TỈNH"


# --- DOCX ------------------------------------------------------------------------------------


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


# --- content rules ---------------------------------------------------------------------------


def test_correction_names_the_version_it_replaces() -> None:
    line = "(Bản điều chỉnh, thay thế phiên bản 1)"
    corrected = minutes(version=2, replaces_version=1)
    assert line in pdf_text(render_pdf(content_of(corrected)))
    assert line in docx_text(render_docx(content_of(corrected)))
    assert line in plain_text(content_of(corrected))
    assert "Bản điều chỉnh" not in plain_text(content_of(minutes()))


def test_dates_take_leading_zeros_for_days_under_ten_and_january_february_only() -> None:
    assert date_words(dt.date(2026, 1, 5)) == "ngày 05 tháng 01 năm 2026"
    assert date_words(dt.date(2026, 2, 28)) == "ngày 28 tháng 02 năm 2026"
    assert date_words(dt.date(2026, 3, 9)) == "ngày 09 tháng 3 năm 2026"
    assert date_words(dt.date(2026, 12, 15)) == "ngày 15 tháng 12 năm 2026"


def test_times_are_shown_in_vietnam_time() -> None:
    utc = minutes(started=dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC))
    assert "Thời gian bắt đầu: 08 giờ 00, ngày 05 tháng 01 năm 2026." in plain_text(content_of(utc))


def test_a_blank_number_leaves_room_for_the_clerk() -> None:
    assert "Số:      /BB-UBND" in plain_text(content_of(minutes(number="/BB-UBND")))
    assert "Số:      /BB-" in plain_text(content_of(minutes(number="")))
    assert "Số: /BB-UBND" in pdf_text(render_pdf(content_of(minutes(number="/BB-UBND"))))


def test_recipients_always_end_with_the_archive_line() -> None:
    lines = plain_text(content_of(minutes(recipients=("Các sở, ban, ngành;",)))).splitlines()
    assert lines[-2:] == ["- Các sở, ban, ngành;", "- Lưu: VT, Hồ sơ."]
    assert plain_text(content_of(minutes())).count("Lưu: VT, Hồ sơ.") == 1


def test_place_and_bodies_come_from_the_data() -> None:
    merged = minutes(
        governing_body="UBND TỈNH QUẢNG TRỊ",
        issuing_body="VĂN PHÒNG UBND TỈNH",
        place="Quảng Trị",
        location="Hội trường UBND tỉnh Quảng Trị",
        attendance=(AttendanceLine("Điểm cầu xã Gio Linh", "07:55", "", None, None),),
        recipients=(),
    )
    text = pdf_text(render_pdf(content_of(merged)))
    assert "Quảng Trị, ngày 05 tháng 01 năm 2026" in text
    assert "UBND TỈNH QUẢNG TRỊ" in text
    assert "Quảng Bình" not in text


def test_minutes_without_attendance_or_links_still_render() -> None:
    bare = minutes(attendance=(), recording_links=(), sections=(), general_conclusions="")
    text = pdf_text(render_pdf(content_of(bare)))
    assert "Thành phần tham dự: không có số liệu điểm danh." in text
    assert "CHỦ TỌA" in docx_text(render_docx(content_of(bare)))
