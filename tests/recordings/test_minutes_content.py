"""What the minutes say, before any rendering: form 1.9's wording, Vietnamese dates and times
in Asia/Ho_Chi_Minh, every diacritic in precomposed form."""

from __future__ import annotations

import datetime as dt
import unicodedata

from recordings.minutes_content import (
    AgendaSection,
    AttendanceLine,
    MinutesContent,
    Paragraph,
    Run,
    Signature,
    SpeakerTurn,
    Table,
    content_of,
    date_words,
    plain_text,
    signature_name,
)
from tests.recordings.minutes_kit import PRESENTATION_LINES, PRESENTATIONS, minutes


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def small() -> MinutesContent:
    """Two halls and one agenda item, with times in UTC and names typed decomposed (NFD)."""
    return content_of(
        minutes(
            governing_body=nfd("UBND TỈNH QUẢNG TRỊ"),
            issuing_body=nfd("VĂN PHÒNG UBND TỈNH"),
            number="12/BB-VP",
            place=nfd("Quảng Trị"),
            date=dt.date(2026, 3, 9),
            subject=nfd("Giao ban tuần"),
            started=dt.datetime(2026, 3, 9, 0, 30, tzinfo=dt.UTC),
            ended=dt.datetime(2026, 3, 9, 17, 5, tzinfo=dt.UTC),
            location=nfd("Hội trường xã Gio Linh"),
            attendance=(
                AttendanceLine(nfd("Hội trường xã Gio Linh"), "07:25", "", 12, True),
                AttendanceLine(nfd("Điểm cầu xã Cửa Việt"), "", "", None, False),
            ),
            chair=nfd("Ông Hồ Văn Lực, Chủ tịch UBND xã"),
            secretary="Đ/c Lê Thị Ánh",
            sections=(
                AgendaSection(
                    title=nfd("Thu hoạch lúa đông xuân"),
                    presenter="",
                    turns=(SpeakerTurn(nfd("Điểm cầu xã Cửa Việt"), 1.5),),
                    content=nfd("Tiến độ đạt 80%.\n\nCòn vướng máy gặt."),
                    conclusions=nfd("Hoàn thành trước ngày 20"),
                ),
            ),
            general_conclusions="",
            recording_links=(),
            recipients=("- UBND tỉnh;",),
        )
    )


def test_content_of_a_small_meeting_is_form_1_9_worded() -> None:
    content = small()
    assert content == MinutesContent(
        governing_body="UBND TỈNH QUẢNG TRỊ",
        issuing_body="VĂN PHÒNG UBND TỈNH",
        number_line="Số: 12/BB-VP",
        national_title="CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        motto="Độc lập - Tự do - Hạnh phúc",
        date_line="Quảng Trị, ngày 09 tháng 3 năm 2026",
        title="BIÊN BẢN",
        subject="Giao ban tuần",
        correction=None,
        body=(
            Paragraph((Run("Thời gian bắt đầu: 07 giờ 30, ngày 09 tháng 3 năm 2026."),)),
            Paragraph((Run("Địa điểm: Hội trường xã Gio Linh."),)),
            Paragraph(
                (Run("Thành phần tham dự: 2 điểm cầu, 12 đại biểu, cụ thể như sau:"),),
                keep_with_next=True,
            ),
            Table(
                ("TT", "Điểm cầu", "Vào lúc", "Rời lúc", "Số đại biểu", "Ghi chú"),
                (
                    ("1", "Hội trường xã Gio Linh", "07:25", "", "12", "Có mặt"),
                    ("2", "Điểm cầu xã Cửa Việt", "", "", "", "Vắng mặt"),
                ),
            ),
            Paragraph((Run("Chủ trì (chủ toạ): Ông Hồ Văn Lực, Chủ tịch UBND xã."),)),
            Paragraph((Run("Thư ký (người ghi biên bản): Đ/c Lê Thị Ánh."),)),
            Paragraph(
                (Run("Nội dung (theo diễn biến cuộc họp/hội nghị/hội thảo):"),),
                keep_with_next=True,
            ),
            Paragraph((Run("1. Thu hoạch lúa đông xuân", bold=True),), keep_with_next=True),
            Paragraph((Run("Ý kiến phát biểu: Điểm cầu xã Cửa Việt (1 phút 30 giây)."),)),
            Paragraph((Run("Tiến độ đạt 80%."),)),
            Paragraph((Run("Còn vướng máy gặt."),)),
            Paragraph((Run("Kết luận: ", italic=True), Run("Hoàn thành trước ngày 20"))),
        ),
        closing=Paragraph(
            (
                Run(
                    "Cuộc họp (hội nghị, hội thảo) kết thúc vào"
                    " 00 giờ 05, ngày 10 tháng 3 năm 2026/."
                ),
            )
        ),
        signatures=(Signature("THƯ KÝ", "Lê Thị Ánh"), Signature("CHỦ TỌA", "Hồ Văn Lực")),
        recipients_label="Nơi nhận:",
        recipients=("- UBND tỉnh;", "- Lưu: VT, Hồ sơ."),
        description="Biên bản, phiên bản 1",
    )


def test_content_is_in_precomposed_form_with_every_diacritic() -> None:
    content = small()
    text = plain_text(content)
    assert unicodedata.is_normalized("NFC", text)
    for word in ("QUẢNG TRỊ", "Cửa Việt", "lúa đông xuân", "Hồ Văn Lực", "Hoàn thành"):
        assert word in text, word


def test_times_cross_midnight_in_vietnam_time() -> None:
    # 17:05 UTC on 9 March is 00:05 on 10 March at +07:00.
    assert small().closing.text.endswith("00 giờ 05, ngày 10 tháng 3 năm 2026/.")


def test_plain_text_is_the_content_in_reading_order() -> None:
    lines = plain_text(small()).splitlines()
    assert lines[:10] == [
        "UBND TỈNH QUẢNG TRỊ",
        "VĂN PHÒNG UBND TỈNH",
        "Số: 12/BB-VP",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Quảng Trị, ngày 09 tháng 3 năm 2026",
        "",
        "BIÊN BẢN",
        "Giao ban tuần",
        "",
    ]
    assert "1\tHội trường xã Gio Linh\t07:25\t\t12\tCó mặt" in lines
    assert lines[-9:] == [
        "",
        "THƯ KÝ",
        "Lê Thị Ánh",
        "CHỦ TỌA",
        "Hồ Văn Lực",
        "",
        "Nơi nhận:",
        "- UBND tỉnh;",
        "- Lưu: VT, Hồ sơ.",
    ]


def test_a_correction_names_the_version_it_replaces() -> None:
    line = "(Bản điều chỉnh, thay thế phiên bản 1)"
    corrected = minutes(version=2, replaces_version=1)
    assert line in plain_text(content_of(corrected))
    assert "Bản điều chỉnh" not in plain_text(content_of(minutes()))


def test_signatures_show_the_name_alone() -> None:
    assert signature_name("Ông Trần Văn Phúc, Phó Chủ tịch UBND tỉnh") == "Trần Văn Phúc"
    assert signature_name(nfd("Bà Lê Thị Hồng Nhung")) == "Lê Thị Hồng Nhung"


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


def test_recipients_always_end_with_the_archive_line() -> None:
    lines = plain_text(content_of(minutes(recipients=("Các sở, ban, ngành;",)))).splitlines()
    assert lines[-2:] == ["- Các sở, ban, ngành;", "- Lưu: VT, Hồ sơ."]
    assert plain_text(content_of(minutes())).count("Lưu: VT, Hồ sơ.") == 1


def test_without_a_place_the_date_line_starts_with_a_capital() -> None:
    assert content_of(minutes(place="")).date_line == "Ngày 05 tháng 01 năm 2026"


def test_the_minutes_list_who_presented_content_after_the_agenda() -> None:
    content = content_of(minutes(presentations=PRESENTATIONS))
    texts = [b.text for b in content.body if isinstance(b, Paragraph)]
    start = texts.index("Trình bày nội dung:")
    assert tuple(texts[start : start + 3]) == PRESENTATION_LINES
    # After the agenda's sections, before the general conclusions.
    last_section = "Kết luận: Thống nhất hỗ trợ; giao Sở Nông nghiệp và Môi trường tổng hợp."
    assert texts.index(last_section) == start - 1
    assert texts[start + 3].startswith("Kết luận chung: ")
    lead_in = next(b for b in content.body if isinstance(b, Paragraph) and b.text == texts[start])
    assert lead_in.keep_with_next
    assert all(line in plain_text(content) for line in PRESENTATION_LINES)


def test_without_presentations_the_minutes_say_nothing_of_them() -> None:
    assert "Trình bày nội dung" not in plain_text(content_of(minutes()))
    assert content_of(minutes(presentations=())) == content_of(minutes())
