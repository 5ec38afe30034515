"""The minutes as a PDF: Decree 30's page, DejaVu Serif embedded, every Vietnamese letter
extracted intact, and exactly the content it is given."""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

import pypdf
import pytest

from recordings.minutes_content import AttendanceLine, content_of, plain_text
from recordings.minutes_pdf import render_pdf
from tests.recordings.minutes_kit import (
    EXPECTED,
    GIVEN,
    PRESENTATION_LINES,
    PRESENTATIONS,
    flat,
    long_minutes,
    minutes,
    pdf_text,
)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_pdf(content_of(minutes()))


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


def test_pdf_of_a_correction_names_the_version_it_replaces() -> None:
    line = "(Bản điều chỉnh, thay thế phiên bản 1)"
    corrected = minutes(version=2, replaces_version=1)
    assert line in pdf_text(render_pdf(content_of(corrected)))


def test_pdf_of_a_blank_number_leaves_room_for_the_clerk() -> None:
    assert "Số: /BB-UBND" in pdf_text(render_pdf(content_of(minutes(number="/BB-UBND"))))


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


def test_pdf_of_minutes_without_attendance_or_links_still_renders() -> None:
    bare = minutes(attendance=(), recording_links=(), sections=(), general_conclusions="")
    text = pdf_text(render_pdf(content_of(bare)))
    assert "Thành phần tham dự: không có số liệu điểm danh." in text


# --- the contract: the content given, all of it, in order, and nothing else ---------------


def test_pdf_renders_the_content_it_is_given_in_reading_order() -> None:
    text = pdf_text(render_pdf(GIVEN))
    position = 0
    for piece in (
        "CƠ QUAN CHỦ QUẢN THỬ",
        "CƠ QUAN BAN HÀNH THỬ",
        "QUỐC HIỆU THỬ NGHIỆM",
        "Tiêu ngữ - thử - nghiệm",
        "Ký hiệu: 07/TH-XYZ",
        "Đồng Hới, hôm nay",
        "TỜ GHI CHÉP",
        "Phiên họp thử nghiệm kết xuất",
        "(Dòng điều chỉnh thử)",
        "Đoạn mở đầu có chữ đậm và hết.",
        "Số Điểm họp Lúc vào Lúc ra Người Lưu ý",
        "1 Ô một 06:01 3 Đủ",
        "2 Ô ba 06:02 09:00",
        "Ghi chú: liên kết https://x.vn/1",
        "Dòng kết thúc thử/.",
        "NGƯỜI GHI NGƯỜI CHỦ TRÌ",
        "Nguyễn Thị Ấu Phạm Văn Ưng",
        "Gửi tới:",
        "- Nơi một;",
        "- Nơi cuối.",
    ):
        found = text.find(piece, position)
        assert found >= 0, f"{piece!r} missing after {text[position - 40 : position]!r}"
        position = found + len(piece)


def test_pdf_adds_no_words_of_its_own() -> None:
    text = pdf_text(render_pdf(GIVEN))
    for word in ("BIÊN BẢN", "THƯ KÝ", "CHỦ TỌA", "Nơi nhận", "CỘNG HÒA", "Độc lập", "Số:"):
        assert word not in text, word


def test_pdf_properties_are_the_contents() -> None:
    info = pypdf.PdfReader(BytesIO(render_pdf(GIVEN))).metadata
    assert info is not None
    assert (info.title, info.author, info.subject) == (
        "Phiên họp thử nghiệm kết xuất",
        "CƠ QUAN BAN HÀNH THỬ",
        "Tài liệu thử, bản 3",
    )


def test_pdf_links_the_runs_that_carry_a_link() -> None:
    page: Any = pypdf.PdfReader(BytesIO(render_pdf(GIVEN))).pages[0]
    uris = [a.get_object()["/A"]["/URI"] for a in page.get("/Annots", [])]
    assert uris == ["https://x.vn/1"]


def test_pdf_lists_who_presented_content() -> None:
    text = pdf_text(render_pdf(content_of(minutes(presentations=PRESENTATIONS))))
    for line in PRESENTATION_LINES:
        assert flat(line) in text, line
    assert "Trình bày nội dung" not in pdf_text(render_pdf(content_of(minutes())))
