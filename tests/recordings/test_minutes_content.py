"""What the minutes say, before any rendering: form 1.9's wording, Vietnamese dates and times
in Asia/Ho_Chi_Minh, every diacritic in precomposed form."""

from __future__ import annotations

import datetime as dt

from recordings.minutes_content import content_of, date_words, plain_text
from tests.recordings.minutes_kit import minutes


def test_a_correction_names_the_version_it_replaces() -> None:
    line = "(Bản điều chỉnh, thay thế phiên bản 1)"
    corrected = minutes(version=2, replaces_version=1)
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


def test_recipients_always_end_with_the_archive_line() -> None:
    lines = plain_text(content_of(minutes(recipients=("Các sở, ban, ngành;",)))).splitlines()
    assert lines[-2:] == ["- Các sở, ban, ngành;", "- Lưu: VT, Hồ sơ."]
    assert plain_text(content_of(minutes())).count("Lưu: VT, Hồ sơ.") == 1
