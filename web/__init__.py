"""The static front-end. The server serves ``STATIC_DIR``; nothing here runs in Python."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
