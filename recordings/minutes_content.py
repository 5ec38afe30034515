"""What the minutes ("biên bản") of a meeting say, before any layout.

Form 1.9 of Decree 30/2020/NĐ-CP (Appendix III; see docs/minutes.md) in words. The caller
gives the facts as a ``MinutesDocument``; ``content_of`` words them into a ``MinutesContent``:
the header's lines, the title, the body's paragraphs (with who presented content) and the
attendance table, the closing line, the signatures and "Nơi nhận". The PDF
(``recordings.minutes_pdf``), the DOCX (``recordings.minutes_docx``) and ``plain_text`` render
that one object and add nothing but layout, so they always say the same thing. Pure functions:
no database, no network. Times are shown in Asia/Ho_Chi_Minh.

Names are data: the governing and issuing bodies, the place and the halls come from the
caller (settings and the unit tree), never from this module.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
KEEP_RECORD = "Lưu: VT, Hồ sơ."
NATIONAL_TITLE = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
NBSP = "\u00a0"
ATTENDANCE_COLUMNS = ("TT", "Điểm cầu", "Vào lúc", "Rời lúc", "Số đại biểu", "Ghi chú")


# --- the facts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeakerTurn:
    """A hall that spoke under an agenda item."""

    hall: str
    """The hall's display name, e.g. "Điểm cầu Lệ Thủy"."""
    minutes: float
    """How long it held the floor under this item, in minutes (all its turns together)."""


@dataclass(frozen=True)
class AgendaSection:
    """One agenda item as it went in the meeting."""

    title: str
    presenter: str
    """Who presented the item ("" when nobody did)."""
    turns: tuple[SpeakerTurn, ...]
    """Who spoke under it, in the order they first spoke."""
    content: str
    """What was said (the secretary's text); one paragraph per line."""
    conclusions: str
    """The chair's conclusions on the item ("" for none)."""


@dataclass(frozen=True)
class Presentation:
    """Content (a shared screen) presented in the meeting."""

    presenter: str
    """The name shown: a person's full name, or the hall's name."""
    hall: str
    """The hall it was presented from."""
    started: dt.datetime
    ended: dt.datetime
    """Aware datetimes are shown in Asia/Ho_Chi_Minh."""


@dataclass(frozen=True)
class AttendanceLine:
    """A hall's row in "Thành phần tham dự"."""

    hall: str
    joined: str
    """When the hall joined, already formatted ("07:58"); "" if it never did."""
    left: str
    """When it left ("11:32"); "" if it stayed to the end or never joined."""
    delegates: int | None
    """Delegates the hall declared; None when not declared."""
    present: bool | None
    """True present, False absent, None unknown."""


@dataclass(frozen=True)
class MinutesDocument:
    """Everything the minutes say. Built by the caller from settings, the meeting and its
    timeline; ``content_of`` words it, rendering adds nothing but layout."""

    governing_body: str
    """The governing body's name in capitals, e.g. "UBND TỈNH QUẢNG BÌNH" (may be "")."""
    issuing_body: str
    """The issuing body's name in capitals, e.g. "VĂN PHÒNG UBND TỈNH"."""
    number: str
    """The symbol after "Số: ", e.g. "05/BB-UBND". "/BB-UBND" leaves the number blank for the
    clerk to fill in; "" leaves the whole symbol blank."""
    place: str
    """The place name in the date line, e.g. "Quảng Bình" (may be "")."""
    date: dt.date
    """The date of the minutes (the date line)."""
    subject: str
    """The meeting's title, printed under "BIÊN BẢN"."""
    started: dt.datetime
    """When the meeting started; aware datetimes are shown in Asia/Ho_Chi_Minh."""
    ended: dt.datetime
    """When it ended."""
    location: str
    """E.g. "Điểm cầu chính: …; các điểm cầu: …"."""
    attendance: tuple[AttendanceLine, ...]
    chair: str
    """ "Ông Trần Văn Phúc, Phó Chủ tịch UBND tỉnh": in full in the body; the signature block
    shows the name alone (before the first comma, without "Ông"/"Bà")."""
    secretary: str
    sections: tuple[AgendaSection, ...]
    general_conclusions: str
    """The chair's closing conclusions ("" for none)."""
    recording_links: tuple[str, ...]
    """Where the recordings can be watched (URLs)."""
    recipients: tuple[str, ...]
    """ "Nơi nhận" lines without the leading "- "; "Lưu: VT, Hồ sơ." is added when missing."""
    presentations: tuple[Presentation, ...] = ()
    """Who presented content, in the order they did ("Trình bày nội dung"; none: no part)."""
    version: int = 1
    replaces_version: int | None = None
    """Set on a correction: the version it replaces."""


# --- the words -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A stretch of a paragraph in one style."""

    text: str
    bold: bool = False
    italic: bool = False
    link: str | None = None
    """The address the text links to."""


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of the body."""

    runs: tuple[Run, ...]
    keep_with_next: bool = False
    """A heading or a lead-in: kept on one page with what follows."""

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)


@dataclass(frozen=True)
class Table:
    """A table of the body (the attendance), a header row and rows of cells."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Paragraph | Table


@dataclass(frozen=True)
class Signature:
    """One column of the signature block."""

    caption: str
    """ "THƯ KÝ" or "CHỦ TỌA"."""
    name: str
    """The name alone, printed under the space to sign."""


@dataclass(frozen=True)
class MinutesContent:
    """The minutes worded, part by part in reading order, for a renderer to lay out. Text is
    in precomposed form (NFC); non-breaking spaces hold room to write in by hand."""

    governing_body: str
    """The header's first line, left ("" for none)."""
    issuing_body: str
    number_line: str
    """ "Số: 05/BB-UBND"."""
    national_title: str
    motto: str
    date_line: str
    """ "Quảng Bình, ngày 05 tháng 01 năm 2026"."""
    title: str
    """ "BIÊN BẢN"."""
    subject: str
    """The meeting's title, under the title."""
    correction: str | None
    """On a correction, the line naming the version it replaces; None otherwise."""
    body: tuple[Block, ...]
    """From "Thời gian bắt đầu" to the recording links, in form 1.9's order."""
    closing: Paragraph
    """ "Cuộc họp … kết thúc vào …/."."""
    signatures: tuple[Signature, Signature]
    """The secretary's (left) and the chair's (right)."""
    recipients_label: str
    """ "Nơi nhận:"."""
    recipients: tuple[str, ...]
    """ "- …;" each, the last "- Lưu: VT, Hồ sơ."."""
    description: str
    """What the file is, for its properties: "Biên bản, phiên bản 1"."""


def _nfc(text: str) -> str:
    """Vietnamese text in precomposed form (one code point per letter, as the font has it)."""
    return unicodedata.normalize("NFC", text.strip())


def _p(*runs: Run | str, keep_with_next: bool = False) -> Paragraph:
    return Paragraph(
        tuple(Run(unicodedata.normalize("NFC", r)) if isinstance(r, str) else r for r in runs),
        keep_with_next,
    )


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(LOCAL_TZ) if moment.tzinfo is not None else moment


def date_words(day: dt.date) -> str:
    """ "ngày 05 tháng 01 năm 2026": days under 10 and months 1–2 take a leading zero."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def _hhmm(moment: dt.datetime) -> str:
    local = _local(moment)
    return f"{local.hour:02d}:{local.minute:02d}"


def _moment_words(moment: dt.datetime) -> str:
    local = _local(moment)
    return f"{local.hour:02d} giờ {local.minute:02d}, {date_words(local.date())}"


def _duration_words(minutes: float) -> str:
    seconds = max(0, round(minutes * 60))
    whole, rest = divmod(seconds, 60)
    if whole and rest:
        return f"{whole} phút {rest} giây"
    return f"{whole} phút" if whole else f"{rest} giây"


_HONORIFICS = ("Ông ", "Bà ", "Đồng chí ", "đồng chí ", "Đ/c ", "đ/c ")


def signature_name(person: str) -> str:
    """The name under a signature, without honorific or position:
    "Ông Trần Văn Phúc, Phó Chủ tịch UBND tỉnh" → "Trần Văn Phúc"."""
    name = _nfc(person).split(",", 1)[0].strip()
    for honorific in _HONORIFICS:
        if name.startswith(honorific):
            return name[len(honorific) :].strip()
    return name


def _number_line(doc: MinutesDocument) -> str:
    """ "Số: 05/BB-UBND"; a blank number keeps room to write it in by hand."""
    number = _nfc(doc.number)
    if not number:
        return f"Số:{NBSP * 6}/BB-…"
    if number.startswith("/"):
        return f"Số:{NBSP * 6}{number}"
    return f"Số: {number}"


def _date_line(doc: MinutesDocument) -> str:
    place = _nfc(doc.place)
    words = date_words(doc.date)
    return f"{place}, {words}" if place else words[0].upper() + words[1:]


def _correction_line(doc: MinutesDocument) -> str | None:
    if doc.replaces_version is None:
        return None
    return f"(Bản điều chỉnh, thay thế phiên bản {doc.replaces_version})"


def _recipient_lines(doc: MinutesDocument) -> tuple[str, ...]:
    """The "Nơi nhận" lines: "- …;" each, the last "- Lưu: VT, Hồ sơ."."""
    items = [_nfc(r).lstrip("-").strip().rstrip(";.").strip() for r in doc.recipients]
    items = [i for i in items if i]
    if not items or not items[-1].startswith("Lưu"):
        items.append(KEEP_RECORD.rstrip("."))
    return (*(f"- {item};" for item in items[:-1]), f"- {items[-1]}.")


def _attendance_table(doc: MinutesDocument) -> Table:
    rows = []
    for i, line in enumerate(doc.attendance, start=1):
        presence = {True: "Có mặt", False: "Vắng mặt", None: ""}[line.present]
        delegates = "" if line.delegates is None else str(line.delegates)
        rows.append(
            (str(i), _nfc(line.hall), _nfc(line.joined), _nfc(line.left), delegates, presence)
        )
    return Table(ATTENDANCE_COLUMNS, tuple(rows))


def _sentence(text: str) -> str:
    """``text`` ending with a full stop (unless it already ends with punctuation)."""
    text = _nfc(text)
    return text if not text or text[-1] in ".!?…:;" else text + "."


def _lines(text: str) -> list[str]:
    return [line for line in (_nfc(x) for x in text.splitlines()) if line]


def _body(doc: MinutesDocument) -> list[Block]:
    """The body from "Thời gian bắt đầu" to the recording links, in form 1.9's order."""
    blocks: list[Block] = [
        _p(f"Thời gian bắt đầu: {_moment_words(doc.started)}."),
        _p(f"Địa điểm: {_sentence(doc.location)}"),
    ]
    halls = len(doc.attendance)
    declared = [a.delegates for a in doc.attendance if a.delegates is not None]
    summary = f"{halls} điểm cầu" + (f", {sum(declared)} đại biểu" if declared else "")
    if halls:
        blocks += [
            _p(f"Thành phần tham dự: {summary}, cụ thể như sau:", keep_with_next=True),
            _attendance_table(doc),
        ]
    else:
        blocks.append(_p("Thành phần tham dự: không có số liệu điểm danh."))
    blocks += [
        _p(f"Chủ trì (chủ toạ): {_sentence(doc.chair)}"),
        _p(f"Thư ký (người ghi biên bản): {_sentence(doc.secretary)}"),
        _p("Nội dung (theo diễn biến cuộc họp/hội nghị/hội thảo):", keep_with_next=True),
    ]
    for i, section in enumerate(doc.sections, start=1):
        blocks.append(_p(Run(f"{i}. {_nfc(section.title)}", bold=True), keep_with_next=True))
        if section.presenter.strip():
            blocks.append(_p(f"Trình bày: {_sentence(section.presenter)}"))
        if section.turns:
            spoke = "; ".join(
                f"{_nfc(t.hall)} ({_duration_words(t.minutes)})" for t in section.turns
            )
            blocks.append(_p(f"Ý kiến phát biểu: {spoke}."))
        blocks += [_p(line) for line in _lines(section.content)]
        conclusions = _lines(section.conclusions)
        if conclusions:
            blocks.append(_p(Run("Kết luận: ", italic=True), conclusions[0]))
            blocks += [_p(line) for line in conclusions[1:]]
    if doc.presentations:
        blocks.append(_p("Trình bày nội dung:", keep_with_next=True))
        for i, shown in enumerate(doc.presentations):
            presenter, hall = _nfc(shown.presenter), _nfc(shown.hall)
            who = presenter if not hall or hall == presenter else f"{presenter} ({hall})"
            end = "." if i == len(doc.presentations) - 1 else ";"
            blocks.append(_p(f"- {who}: {_hhmm(shown.started)}–{_hhmm(shown.ended)}{end}"))
    general = _lines(doc.general_conclusions)
    if general:
        blocks.append(_p(Run("Kết luận chung: ", bold=True), general[0]))
        blocks += [_p(line) for line in general[1:]]
    links = [link.strip() for link in doc.recording_links if link.strip()]
    if links:
        blocks.append(_p("Bản ghi hình cuộc họp:", keep_with_next=True))
        blocks += [_p("- ", Run(link, link=link)) for link in links]
    return blocks


def content_of(doc: MinutesDocument) -> MinutesContent:
    """The minutes ``doc`` describes, worded as form 1.9 has them."""
    return MinutesContent(
        governing_body=_nfc(doc.governing_body),
        issuing_body=_nfc(doc.issuing_body),
        number_line=_number_line(doc),
        national_title=NATIONAL_TITLE,
        motto=MOTTO,
        date_line=_date_line(doc),
        title="BIÊN BẢN",
        subject=_nfc(doc.subject),
        correction=_correction_line(doc),
        body=tuple(_body(doc)),
        closing=_p(f"Cuộc họp (hội nghị, hội thảo) kết thúc vào {_moment_words(doc.ended)}/."),
        signatures=(
            Signature("THƯ KÝ", signature_name(doc.secretary)),
            Signature("CHỦ TỌA", signature_name(doc.chair)),
        ),
        recipients_label="Nơi nhận:",
        recipients=_recipient_lines(doc),
        description=f"Biên bản, phiên bản {doc.version}",
    )


def plain_text(content: MinutesContent) -> str:
    """The minutes as plain text, in reading order (for full-text search and previews): one
    paragraph per line, table rows tab-separated."""
    out = [content.governing_body] if content.governing_body else []
    out += [content.issuing_body, content.number_line, content.national_title, content.motto]
    out += [content.date_line, "", content.title, content.subject]
    if content.correction:
        out.append(content.correction)
    out.append("")
    for block in content.body:
        if isinstance(block, Paragraph):
            out.append(block.text)
        else:
            out.append("\t".join(block.header))
            out += ["\t".join(row) for row in block.rows]
    out += [content.closing.text, ""]
    for signature in content.signatures:
        out += [signature.caption, signature.name]
    out += ["", content.recipients_label, *content.recipients]
    return "\n".join(out).replace(NBSP, " ") + "\n"
