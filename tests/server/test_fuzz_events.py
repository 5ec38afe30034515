"""Every client event of docs/protocol.md fuzzed (hypothesis, fixed seed) against a real
``giaoban serve``: whatever the data, the event is answered (``{ok, …}`` or an error with a
code and a readable message, naming the field when the data is wrong), the connection stays
up, and the server logs no traceback."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.test_fuzz_api import DemoServer

pytestmark = pytest.mark.slow

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
CODES = {
    "validation", "unauthenticated", "forbidden", "not_found", "invalid", "invalid_state",
    "rate_limited", "busy", "moved",
}  # fmt: skip
"""Every error code the protocol documents but ``internal`` (a server fault)."""
PACE = 0.11
"""Seconds between two events: the server answers more than 10 a second with rate_limited."""


def documented_events() -> dict[str, list[str]]:
    """The client events of docs/protocol.md, with the fields their data names."""
    text = PROTOCOL.read_text(encoding="utf-8")
    section = text.split("## Events from the client", 1)[1].split("## Events from the server")[0]
    events: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line.startswith("### `"):
            names = re.findall(r"^### `(\w+)`", line)
            data = re.findall(r"`\{([^`]*)\}`", line)
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            names = re.findall(r"`(\w+)`", cells[0])
            data = re.findall(r"`\{([^`]*)\}`", " ".join(cells[1:3]))
        else:
            continue
        fields = re.findall(r"(\w+)\??(?=[,:}]|$)", data[0]) if data else []
        for name in names:
            events[name] = fields
    return events


EVENTS = documented_events()

scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=30)
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def malformed(draw: st.DrawFn) -> tuple[str, Any]:
    """An event of the protocol with data that is wrong in some way, or anything at all."""
    name = draw(st.sampled_from(sorted(EVENTS)))
    fields = EVENTS[name]
    kind = draw(st.sampled_from(["anything", "fields", "extra"]))
    if kind == "anything" or not fields:
        return name, draw(json_values)
    data = {f: draw(json_values) for f in fields if draw(st.booleans())}
    if kind == "extra":
        data[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    return name, data


class Fuzzer:
    """One socket of the role's, paced under the rate limit."""

    def __init__(self, demo: DemoServer, role: str) -> None:
        self.client = socketio.Client(reconnection=False)
        credentials = demo.credentials(role)
        auth = {"token": demo.token} if role == "terminal" else None
        headers = {"Cookie": credentials["Cookie"]} if "Cookie" in credentials else {}
        self.client.connect(
            demo.url, namespaces=["/live"], auth=auth, headers=headers, wait_timeout=10
        )
        self.sent = 0.0

    def call(self, name: str, data: Any) -> Any:
        wait = PACE - (time.monotonic() - self.sent)
        if wait > 0:
            time.sleep(wait)
        self.sent = time.monotonic()
        return self.client.call(name, data, namespace="/live", timeout=10)

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("fuzz-events"))
    server.start()
    yield server
    server.stop()
    log = server.log.read_text(encoding="utf-8")
    assert "Traceback" not in log, f"the server logged a traceback:\n{log[-5000:]}"
    assert " ERROR " not in log, f"the server logged an error:\n{log[-5000:]}"


def test_the_protocol_documents_every_event_with_its_fields() -> None:
    assert {"join", "offer", "give_floor", "mute_hall", "link_stats", "give_content"} <= set(EVENTS)
    assert EVENTS["mute_hall"] == ["hall_id", "muted", "lock"]
    assert EVENTS["join"] == ["meeting_id", "hall_id"]


@pytest.mark.parametrize("role", ["terminal", "chutich"])
def test_every_malformed_event_is_answered_naming_the_field_and_the_connection_stays(
    demo: DemoServer, role: str
) -> None:
    fuzzer = Fuzzer(demo, role)
    seen: dict[str, int] = {}

    @given(event=malformed())
    @settings(
        max_examples=120,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answered(event: tuple[str, Any]) -> None:
        name, data = event
        reply = fuzzer.call(name, data)
        assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool), (name, data, reply)
        if not reply["ok"]:
            error = reply["error"]
            seen[error["code"]] = seen.get(error["code"], 0) + 1
            assert error["code"] in CODES, (name, data, reply)
            assert isinstance(error["message"], str) and error["message"], (name, data, reply)
            if error["code"] == "validation":
                assert isinstance(error.get("field"), str) and error["field"], (name, data, reply)
                assert not re.search(r"\b\w+In\b", error["message"]), (name, data, reply)
        assert fuzzer.client.connected, (name, data)

    try:
        answered()
    finally:
        fuzzer.close()
    assert seen.get("validation", 0) > 30, seen  # the fuzzer did reach the validation
