"""The forwarding path's compiled per-packet work (``_fastpath.c``): ``send.py``, ``receive.py``."""

from typing import Any

def set_protect(address: int, /) -> None: ...
def sockaddr(host: str, port: int, scope: int = 0, /) -> bytes: ...
def send(
    route: tuple[Any, ...],
    gso: bool,
    history: dict[int, Any],
    history_size: int,
    sender: Any,
    dtls: Any,
    data: bytes | list[bytes],
    frame_timestamp: int,
    picture_id: int,
    level: int | None,
    sequence_number: int,
    /,
) -> tuple[int, list[bytes] | None, int]: ...
def set_unprotect(address: int, /) -> None: ...
def parse(data: bytes, ids: Any, packet_type: type, extensions_type: type, /) -> Any: ...
def receive(
    context: int, data: bytes, ids: Any, packet_type: type, extensions_type: type, /
) -> Any: ...
