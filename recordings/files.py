"""Small file-system helpers: what must survive a crash, and who may read what we write.

Everything under the var, recordings, documents and archive trees is the server's own: the
database holds password hashes, recordings and minutes are the province's. Directories are
0700 and files 0600 (the server also sets its umask to 077 at start, ``server/cli.py``); a
finished archive package is sealed: its files 0400, its directory 0500.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SEALED_DIR = 0o500
SEALED_FILE = 0o400


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(directory: Path) -> Path:
    """Make ``directory`` and any missing parent, each 0700 (``mkdir -p`` gives parents the
    umask's mode)."""
    missing: list[Path] = []
    path = directory
    while not path.exists():
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            pass
        else:
            os.chmod(path, PRIVATE_DIR)  # whatever the umask
    return directory


def private_file(path: Path) -> Path:
    """Create ``path`` empty (or truncate it) as 0600, for a writer that opens it by name
    (FFmpeg, SQLite) and keeps the mode of a file that exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)
    os.close(fd)
    return path


def tighten(path: Path, mode: int = PRIVATE_DIR) -> None:
    """Take group and others' access away from ``path`` (made before modes were set), when
    it is ours; a mount we may not change is left as it is."""
    try:
        status = path.stat()
        if status.st_mode & 0o077 and status.st_uid == os.getuid():
            os.chmod(path, mode)
    except OSError:
        pass


def private_files(directory: Path) -> None:
    """Make every file directly in ``directory`` 0600 (what a subprocess wrote)."""
    for path in directory.iterdir():
        if path.is_file():
            os.chmod(path, PRIVATE_FILE)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a 0600 file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), PRIVATE_FILE)
        f.write(data)
