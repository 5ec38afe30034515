"""The REST API fuzzed from its own OpenAPI document (schemathesis), as each role: a real
``giaoban serve`` process on the demo province; every operation gets generated requests
(bounded, with a fixed seed), and no answer may be a 5xx or break the documented schema."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from tests.server.cluster_kit import ROOT, free_port

pytestmark = pytest.mark.slow

ROLES = ("anonymous", "terminal", "admin", "vanphong", "chutich", "luutru", "vanphong.donghoi")
EXAMPLES = 6
"""Generated requests per operation and role: ~1,000 requests in all, about a minute."""
SKIPPED = {
    ("POST", "/api/session"),  # logging in again would replace the role's session
    ("DELETE", "/api/session"),  # and logging out would end it
}


class DemoServer:
    """``giaoban serve`` on a fresh demo province (SQLite in a temporary directory)."""

    def __init__(self, var_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = var_dir / "server.log"
        self.env = {
            **os.environ,
            "GIAOBAN_VAR_DIR": str(var_dir),
            "GIAOBAN_DATABASE_URL": f"sqlite+aiosqlite:///{var_dir / 'giaoban.db'}",
            "GIAOBAN_HOST": "127.0.0.1",
            "GIAOBAN_PORT": str(self.port),
            "GIAOBAN_PUBLIC_URL": self.url,
            "GIAOBAN_RECORDING_MIN_FREE_MB": "1",
        }
        for command in ("migrate", "seed-demo"):
            subprocess.run(
                [sys.executable, "-m", "server.cli", command],
                env=self.env, cwd=ROOT, check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        text = (var_dir / "demo-credentials.txt").read_text(encoding="utf-8")
        self.passwords = dict(re.findall(r"^\s+([\w.]+)\s+([0-9a-f]{8}-[0-9a-f]{8})\s", text, re.M))
        self.token = re.findall(r"token=(gbt_[\w-]+)", text)[1]  # a district's terminal
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve"],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if requests.get(f"{self.url}/api/health", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the server did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def credentials(self, role: str) -> dict[str, str]:
        """The headers that make a request this role's: its login cookie or bearer token."""
        if role == "anonymous":
            return {}
        if role == "terminal":
            return {"Authorization": f"Bearer {self.token}"}
        reply = requests.post(
            f"{self.url}/api/session",
            json={"username": role, "password": self.passwords[role]},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
        return {"Cookie": f"giaoban_session={reply.cookies['giaoban_session']}"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("fuzz"))
    server.start()
    yield server
    server.stop()
    log = server.log.read_text(encoding="utf-8")
    assert "Traceback" not in log, f"the server logged a traceback:\n{log[-5000:]}"
    served = len(
        re.findall(r'"(?:GET|POST|PUT|PATCH|DELETE) /api/.*" [1-4]\d\d [\d.]+ms user:', log)
    )
    assert served > 50 * EXAMPLES, f"only {served} requests reached the API as a person"


@pytest.fixture(scope="module")
def api_schema(demo: DemoServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{demo.url}/api/openapi.json")


@pytest.mark.parametrize("role", ROLES)
def test_no_request_of_any_role_gets_a_server_error_or_an_undocumented_answer(
    role: str, demo: DemoServer, api_schema: schemathesis.BaseSchema
) -> None:
    credentials = demo.credentials(role)
    http = requests.Session()
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED and role != "anonymous":
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,  # the same requests on every run
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=demo.url,
                session=http,
                headers=credentials,
                checks=[checks.not_a_server_error, checks.response_schema_conformance],
                timeout=30,
            )

        try:
            exercise()
        except Exception as exc:  # every operation is tried; the failures are listed at the end
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, f"{len(failures)} operations failed as {role}:\n" + "\n\n".join(failures)
