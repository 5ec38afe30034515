"""The minutes of the Quảng Bình demo's monthly briefing, a worded content unlike any minutes,
and their text as the PDF and the DOCX give it back: shared by the tests of the content and of
both renderers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import docx
import pypdf

from recordings.minutes_content import (
    AgendaSection,
    AttendanceLine,
    MinutesContent,
    MinutesDocument,
    Paragraph,
    Presentation,
    Run,
    Signature,
    SpeakerTurn,
    Table,
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


UTC_5_JAN = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
PRESENTATIONS = (
    # Given in UTC: shown in Vietnam's time.
    Presentation(
        "Nguyễn Văn An", "Điểm cầu Đồng Hới",
        UTC_5_JAN + dt.timedelta(minutes=75), UTC_5_JAN + dt.timedelta(minutes=92),
    ),
    Presentation(
        "Điểm cầu Lệ Thủy", "Điểm cầu Lệ Thủy",
        UTC_5_JAN + dt.timedelta(minutes=125), UTC_5_JAN + dt.timedelta(minutes=160),
    ),
)  # fmt: skip
PRESENTATION_LINES = (
    "Trình bày nội dung:",
    "- Nguyễn Văn An (Điểm cầu Đồng Hới): 08:15–08:32;",
    "- Điểm cầu Lệ Thủy: 09:05–09:40.",
)


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


# Content no facts would give: every word differs from what content_of writes, so a renderer
# that shows anything of its own is caught.
GIVEN = MinutesContent(
    governing_body="CƠ QUAN CHỦ QUẢN THỬ",
    issuing_body="CƠ QUAN BAN HÀNH THỬ",
    number_line="Ký hiệu: 07/TH-XYZ",
    national_title="QUỐC HIỆU THỬ NGHIỆM",
    motto="Tiêu ngữ - thử - nghiệm",
    date_line="Đồng Hới, hôm nay",
    title="TỜ GHI CHÉP",
    subject="Phiên họp thử nghiệm kết xuất",
    correction="(Dòng điều chỉnh thử)",
    body=(
        Paragraph((Run("Đoạn mở đầu có "), Run("chữ đậm", bold=True), Run(" và hết.")), True),
        Table(
            ("Số", "Điểm họp", "Lúc vào", "Lúc ra", "Người", "Lưu ý"),
            (("1", "Ô một", "06:01", "", "3", "Đủ"), ("2", "Ô ba", "06:02", "09:00", "", "")),
        ),
        Paragraph(
            (
                Run("Ghi chú: ", italic=True),
                Run("liên kết "),
                Run("https://x.vn/1", link="https://x.vn/1"),
            )
        ),
    ),
    closing=Paragraph((Run("Dòng kết thúc thử/."),)),
    signatures=(
        Signature("NGƯỜI GHI", "Nguyễn Thị Ấu"),
        Signature("NGƯỜI CHỦ TRÌ", "Phạm Văn Ưng"),
    ),
    recipients_label="Gửi tới:",
    recipients=("- Nơi một;", "- Nơi cuối."),
    description="Tài liệu thử, bản 3",
)
