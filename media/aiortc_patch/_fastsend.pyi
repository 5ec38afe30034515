"""The send path's compiled per-packet loop (``_fastsend.c``); see ``send.py``."""

from collections.abc import Sequence
from typing import Any

def set_protect(address: int, /) -> None: ...
def sockaddr(host: str, port: int, scope: int = 0, /) -> bytes: ...
def send(
    context: int,
    fd: int,
    sockaddr: bytes,
    gso: bool,
    room: int,
    template: bytes,
    abs_offset: int,
    level_offset: int,
    timestamp: int,
    abs_send_time: int,
    level: int | None,
    payload_type: int,
    sequence_number: int,
    chunks: Sequence[bytes | memoryview],
    descriptors: tuple[bytes, bytes] | None,
    history: dict[int, Any],
    history_size: int,
    /,
) -> tuple[int, int, int, list[bytes] | None, int]: ...
