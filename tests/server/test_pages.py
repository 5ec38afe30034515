"""The server serves the front-end itself: Vietnamese pages, every asset local (no CDN), and
every word the pages show in both languages."""

from __future__ import annotations

import json
import re

import pytest

from web import STATIC_DIR

PAGES = ["/", "/terminal", "/chair", "/present", "/secretariat", "/minutes", "/archive", "/admin"]


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_vietnamese_and_load_only_local_assets(clients, path):
    client = await clients()
    page = await client.get(path)
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-cache"
    assert '<html lang="vi">' in page.text
    assert "Giao ban trực tuyến" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by this server"
        assert (await client.get(asset)).status == 200, asset


async def test_the_pages_modules_import_only_what_the_server_serves(clients):
    client = await clients()
    for module in STATIC_DIR.glob("*.js"):
        for target in re.findall(r'from "([^"]+)"', module.read_text(encoding="utf-8")):
            assert target.startswith("/static/"), f"{module.name} imports {target}"
            assert (await client.get(target)).status == 200, f"{module.name}: {target}"


def test_no_static_file_reaches_outside_the_server():
    for path in STATIC_DIR.rglob("*"):
        # vendor/: libraries from npm (socket.io-client, qrcode-generator) load nothing.
        if path.is_file() and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path
            assert "@import" not in text and "@font-face" not in text, path


def test_no_page_parses_text_as_html_or_runs_inline_script():
    """User text (titles, hall and person names) reaches the pages only as text: no module
    uses innerHTML and its kin, and no page carries inline script or style (the CSP refuses
    them)."""
    sinks = re.compile(r"\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write|\beval\(")
    for path in STATIC_DIR.glob("*.js"):
        found = sinks.search(path.read_text(encoding="utf-8"))
        assert found is None, f"{path.name}: {found and found.group(0)}"
    for path in STATIC_DIR.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{path.name}: inline script"
        assert not re.search(r"\sstyle=|\son[a-z]+=", text), f"{path.name}: inline style or handler"


def _dictionary(name: str) -> dict[str, str]:
    words: dict[str, str] = json.loads((STATIC_DIR / "i18n" / f"{name}.json").read_text("utf-8"))
    assert all(isinstance(v, str) for v in words.values()), f"{name}.json: not all text"
    return words


async def test_the_translations_are_served_as_json(clients):
    client = await clients()
    for name in ("vi", "en"):
        reply = await client.get(f"/static/i18n/{name}.json")
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("application/json")
        assert json.loads(reply.text) == _dictionary(name)


def test_every_word_is_in_vietnamese_and_in_english():
    vi, en = _dictionary("vi"), _dictionary("en")
    assert len(vi) > 100
    assert vi.keys() == en.keys(), sorted(vi.keys() ^ en.keys())
    placeholders = re.compile(r"\{\w+\}")
    for key in vi:
        assert set(placeholders.findall(vi[key])) == set(placeholders.findall(en[key])), key
    used: set[str] = set()
    for path in [*STATIC_DIR.glob("*.js"), *STATIC_DIR.glob("*.html")]:
        if path.name == "i18n.js":
            continue
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([\w.]+)"', text))
        used |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([\w.]+)"', text))
    assert used - vi.keys() == set(), "words used but not translated"


def test_the_terminal_speaks_vietnamese_with_its_diacritics():
    vi = _dictionary("vi")
    for word in ("Xin phát biểu", "Điểm danh", "Đang kết nối lại…", "Chủ trì", "Tắt micrô",
                 "Bật micrô", "Giao quyền phát biểu", "Thu hồi quyền phát biểu",
                 "Bắt đầu cuộc họp", "Kết thúc cuộc họp", "Có mặt", "Số đại biểu"):  # fmt: skip
        assert word in vi.values(), word
