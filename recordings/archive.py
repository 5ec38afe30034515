"""The data-centre archive: immutable packages per meeting, a signed manifest, retention and
disposal with tombstones, integrity checks, and search.

A package holds the composite and per-hall videos, poster and chapters, the signed minutes
(PDF) and their DOCX, the timeline, attendance and meeting record (JSON), and
``manifest.json`` (every file with its size and SHA-256) with ``manifest.json.p7s``, a detached
CMS signature by the deployment's certificate. Packages are written atomically and never
modified; a new minutes version makes a new package version. See ``docs/archive.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from recordings.files import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    SEALED_DIR,
    SEALED_FILE,
    fsync_dir,
    private_dir,
)

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.p7s"
FORMAT = "giaoban-archive/1"
RETENTION_YEARS: dict[str, int | None] = {"5y": 5, "10y": 10, "20y": 20, "permanent": None}
"""Retention classes: years before the earliest disposal (None: kept permanently)."""


class ArchiveStore(Protocol):
    """Where packages live, by key. Written once, all or nothing; read by name; deleted whole.

    A directory (a NAS mount) now; an S3-compatible bucket fits the same calls (a key prefix
    per package, objects per file, the manifest written last).
    """

    def put(self, key: str, files: dict[str, Path]) -> None: ...

    def exists(self, key: str) -> bool: ...

    def names(self, key: str) -> list[str]: ...

    def open(self, key: str, name: str) -> BinaryIO: ...

    def local_path(self, key: str, name: str) -> Path | None:
        """A file path to serve directly (with HTTP Range), when the store has one."""

    def delete(self, key: str) -> None: ...

    def set_aside(self, key: str) -> str:
        """Move a package that no record names out of the way (kept, never deleted unasked);
        returns where it went."""

    def sweep_incoming(self, older_than: float = ...) -> list[str]:
        """Delete what writes cut short left behind, once older than ``older_than`` seconds;
        returns what went."""


INCOMING_STALE = 6 * 3600.0
"""Seconds after which a package directory still in ``.incoming/`` is a crash's leftover and
not another node's write under way on the same mount."""


class DirectoryStore:
    """Packages as directories under ``root`` (the data centre's NAS mount)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"bad package key {key!r}")
        return path

    def put(self, key: str, files: dict[str, Path]) -> None:
        """Write a package atomically: into a temporary directory, fsync, then one rename."""
        final = self._dir(key)
        if final.exists():
            raise FileExistsError(f"package {key} exists; packages are never modified")
        incoming = self.root / ".incoming" / uuid.uuid4().hex
        private_dir(incoming.parent)
        incoming.mkdir(mode=PRIVATE_DIR)
        try:
            for name, source in files.items():
                if "/" in name or name.startswith("."):
                    raise ValueError(f"bad file name {name!r}")
                target = incoming / name
                shutil.copyfile(source, target)
                with open(target, "rb") as f:
                    os.fsync(f.fileno())
                target.chmod(SEALED_FILE)
            fsync_dir(incoming)
            private_dir(final.parent)
            os.rename(incoming, final)  # a directory moves while it is writable (its "..")
            final.chmod(SEALED_DIR)
            fsync_dir(final.parent)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise

    def exists(self, key: str) -> bool:
        return self._dir(key).is_dir()

    def names(self, key: str) -> list[str]:
        directory = self._dir(key)
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if p.is_file())

    def open(self, key: str, name: str) -> BinaryIO:
        return open(self._dir(key) / name, "rb")

    def local_path(self, key: str, name: str) -> Path | None:
        path = self._dir(key) / name
        return path if path.is_file() and path.parent == self._dir(key) else None

    def delete(self, key: str) -> None:
        directory = self._dir(key)
        directory.chmod(PRIVATE_DIR)
        for path in directory.iterdir():
            path.chmod(PRIVATE_FILE)
        shutil.rmtree(directory)
        fsync_dir(directory.parent)

    def sweep_incoming(self, older_than: float = INCOMING_STALE) -> list[str]:
        """Delete the directories a put cut short left in ``.incoming/`` (a crash in the
        middle of copying a meeting's recordings: gigabytes), once ``older_than`` seconds
        old: a younger one may be another node's put under way."""
        incoming = self.root / ".incoming"
        if not incoming.is_dir():
            return []
        now, swept = time.time(), []
        for path in sorted(incoming.iterdir()):
            try:
                if now - path.stat().st_mtime < older_than:
                    continue
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
            swept.append(path.name)
        if swept:
            fsync_dir(incoming)
        return swept

    def set_aside(self, key: str) -> str:
        """A package written whole whose database row never was (the server died between the
        two) goes to ``.orphaned/``, sealed as it was, for an administrator to look at."""
        directory = self._dir(key)
        aside = self.root / ".orphaned" / f"{key.replace('/', '-')}-{uuid.uuid4().hex[:8]}"
        private_dir(aside.parent)
        directory.chmod(PRIVATE_DIR)  # a directory moves while it is writable (its "..")
        os.rename(directory, aside)
        aside.chmod(SEALED_DIR)
        fsync_dir(directory.parent)
        fsync_dir(aside.parent)
        return str(aside.relative_to(self.root))


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def fold(text: str) -> str:
    """Lower case without diacritics: "Giao ban trực tuyến" → "giao ban truc tuyen"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(bare.lower().split())


def manifest_bytes(
    *,
    meeting_id: int,
    version: int,
    title: str,
    created_at: datetime,
    files: dict[str, Path],
    retention_class: str,
    dispose_after: datetime | None,
    minutes_version: int | None,
    previous: dict[str, Any] | None,
) -> tuple[bytes, list[dict[str, Any]]]:
    """The manifest of a package (canonical JSON, UTF-8) and its file list."""
    entries = []
    for name in sorted(files):
        digest, size = sha256_file(files[name])
        entries.append({"name": name, "size": size, "sha256": digest})
    document = {
        "format": FORMAT,
        "meeting_id": meeting_id,
        "version": version,
        "title": title,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "minutes_version": minutes_version,
        "retention_class": retention_class,
        "dispose_after": dispose_after.astimezone(UTC).isoformat() if dispose_after else None,
        "previous": previous,
        "files": entries,
    }
    text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return text.encode("utf-8"), entries


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a package; ``file`` names the file (None: the package)."""

    file: str | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "problem": self.problem}


def verify_package(
    store: ArchiveStore,
    key: str,
    verify_signature: Any,
    expected_manifest_sha256: str | None = None,
) -> list[Problem]:
    """Re-hash every file against the manifest and check the manifest's signature.

    ``verify_signature(data, signature) -> bool`` checks the detached CMS signature.
    An empty list means the package is exactly what was archived.
    """
    if not store.exists(key):
        return [Problem(None, "the package is missing from the store")]
    names = set(store.names(key))
    problems: list[Problem] = []
    if MANIFEST not in names:
        return [Problem(MANIFEST, "missing")]
    with store.open(key, MANIFEST) as f:
        manifest = f.read()
    recorded = expected_manifest_sha256
    if recorded and hashlib.sha256(manifest).hexdigest() != recorded:
        problems.append(Problem(MANIFEST, "differs from the manifest recorded when archived"))
    if SIGNATURE not in names:
        problems.append(Problem(SIGNATURE, "missing"))
    else:
        with store.open(key, SIGNATURE) as f:
            signature = f.read()
        if not verify_signature(manifest, signature):
            problems.append(Problem(SIGNATURE, "the manifest's signature does not verify"))
    try:
        entries = json.loads(manifest)["files"]
    except (ValueError, KeyError, TypeError):
        return [*problems, Problem(MANIFEST, "cannot be read")]
    listed = {e["name"] for e in entries}
    for entry in entries:
        name = entry["name"]
        if name not in names:
            problems.append(Problem(name, "missing"))
            continue
        with store.open(key, name) as f:
            digest, size = sha256_stream(f)
        if size != entry["size"]:
            problems.append(Problem(name, f"size {size} bytes, the manifest says {entry['size']}"))
        elif digest != entry["sha256"]:
            problems.append(Problem(name, "content changed (SHA-256 differs from the manifest)"))
    for name in sorted(names - listed - {MANIFEST, SIGNATURE}):
        problems.append(Problem(name, "not in the manifest"))
    return problems


def dispose_after(created: datetime, retention_class: str) -> datetime | None:
    years = RETENTION_YEARS[retention_class]
    if years is None:
        return None
    try:
        return created.replace(year=created.year + years)
    except ValueError:  # 29 February
        return created.replace(year=created.year + years, day=28)


def package_key(meeting_id: int, version: int) -> str:
    return f"meetings/{meeting_id:06d}/v{version:03d}"


def json_file(directory: Path, name: str, value: Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n",
                    encoding="utf-8")  # fmt: skip
    return path


def files_of(directory: Path, names: Iterable[str]) -> dict[str, Path]:
    return {name: directory / name for name in names if (directory / name).is_file()}
