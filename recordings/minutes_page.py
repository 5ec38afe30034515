"""The page of the minutes ("biên bản") that both renderings lay out: Decree 30/2020/NĐ-CP's
A4 with its margins and header columns, in millimetres, and the roles text plays on it (each
renderer gives a role its own size; see docs/minutes.md)."""

from __future__ import annotations

from enum import Enum

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


class Role(Enum):
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
