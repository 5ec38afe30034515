"""Real documents to attach: a PDF (reportlab), a DOCX (python-docx), an XLSX (its parts)."""

from __future__ import annotations

import io
import zipfile

from docx import Document
from reportlab.pdfgen import canvas


def pdf(text: str = "Báo cáo tình hình kinh tế - xã hội", pad: int = 0) -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, text)
    if pad:
        page.setSubject("x" * pad)
    page.save()
    return out.getvalue()


def docx(text: str = "Kế hoạch công tác tháng 12") -> bytes:
    document = Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx() -> bytes:
    """A one-sheet workbook, as spreadsheet programs write it (the parts a reader needs)."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
            'org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType'
            '="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
            '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocu'
            'ment.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxml'
            'formats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schema'
            's.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/'
            'workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlforma'
            'ts.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeD'
            'ocument/2006/relationships"><sheets><sheet name="Số liệu" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxml'
            'formats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schema'
            's.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="workshee'
            'ts/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlform'
            'ats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is>'
            "<t>Dân số</t></is></c></row></sheetData></worksheet>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return out.getvalue()
