"""The static front-end. The server serves ``STATIC_DIR``; nothing here runs in Python."""

import functools
import hashlib
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"


@functools.cache
def fingerprint() -> str:
    """What the pages are made of, as this process serves them: a hash of every static file
    (its path and bytes), read once. A kiosk that loaded other pages reloads itself."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(STATIC_DIR)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
