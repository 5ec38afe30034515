"""The server serves the front-end itself: Vietnamese pages, every asset local (no CDN)."""

from __future__ import annotations

import re

import pytest

from web import STATIC_DIR


@pytest.mark.parametrize("path", ["/", "/terminal"])
async def test_pages_are_vietnamese_and_load_only_local_assets(clients, path):
    client = await clients()
    page = await client.get(path)
    assert page.status == 200
    assert '<html lang="vi">' in page.text
    assert "Giao ban trực tuyến" in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by this server"
        assert (await client.get(asset)).status == 200, asset


def test_no_static_file_reaches_outside_the_server():
    for path in STATIC_DIR.rglob("*"):
        # vendor/: libraries from npm (socket.io-client, qrcode-generator) load nothing.
        if path.is_file() and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), path
