"""The ``giaoban`` command as an operator uses it: migrate, seed the demo, serve HTTPS."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from server.db import Database
from server.demo import DISTRICTS
from server.tls import ensure_demo_certificate, fingerprint

GIAOBAN = [sys.executable, "-m", "server"]


def run(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GIAOBAN, *args], env={**os.environ, **env}, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
async def test_seed_demo_creates_the_quang_binh_province(tmp_path: Path):
    env = {"GIAOBAN_VAR_DIR": str(tmp_path)}
    first = await asyncio.to_thread(run, ["seed-demo"], env)
    assert first.returncode == 0, first.stderr
    for username in ("admin", "vanphong", "chutich", "luutru"):
        assert username in first.stdout
    assert "/terminal#token=gbt_" in first.stdout
    assert (tmp_path / "demo-credentials.txt").stat().st_mode & 0o777 == 0o600

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'giaoban.db'}")
    try:
        async with db.session() as session:
            halls = (await session.execute(sa.text("SELECT name FROM halls ORDER BY id"))).scalars()
            names = list(halls)
            terminals = (await session.execute(sa.text("SELECT count(*) FROM terminals"))).scalar()
            roles = set((await session.execute(sa.text("SELECT role FROM user_roles"))).scalars())
    finally:
        await db.close()
    assert names[0] == "Hội trường UBND tỉnh Quảng Bình"
    assert names[1:] == [f"Điểm cầu {short}" for _, _, short in DISTRICTS]
    assert [short for _, _, short in DISTRICTS] == [
        "Đồng Hới", "Ba Đồn", "Bố Trạch", "Quảng Trạch", "Tuyên Hóa", "Minh Hóa", "Quảng Ninh",
        "Lệ Thủy",
    ]  # fmt: skip
    assert terminals == 9
    assert roles == {"admin", "secretariat", "chair", "archivist"}

    again = await asyncio.to_thread(run, ["seed-demo"], env)
    assert again.returncode == 0
    assert "nothing seeded" in again.stdout


def test_serve_refuses_a_database_that_is_not_migrated(tmp_path: Path):
    result = run(["serve"], {"GIAOBAN_VAR_DIR": str(tmp_path), "GIAOBAN_PORT": "0"})
    assert result.returncode == 2
    assert "giaoban migrate" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GIAOBAN_PORT": "https"}, "GIAOBAN_PORT"),
        ({"GIAOBAN_DATABASE_URL": "mysql://x"}, "GIAOBAN_DATABASE_URL"),
        ({"GIAOBAN_TLS_CERT": "/nonexistent.pem"}, "GIAOBAN_TLS_KEY"),
        ({"GIAOBAN_ADMISSION_MAX_CPU_PERCENT": "150"}, "GIAOBAN_ADMISSION_MAX_CPU_PERCENT"),
        ({"GIAOBAN_MAX_PARTICIPANTS": "-1"}, "GIAOBAN_MAX_PARTICIPANTS"),
    ],
)
def test_bad_settings_are_reported_by_name(tmp_path: Path, env, message):
    result = run(["migrate"], {"GIAOBAN_VAR_DIR": str(tmp_path), **env})
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.slow
async def test_serve_speaks_https_with_the_given_certificate(tmp_path: Path):
    cert, key = ensure_demo_certificate(tmp_path / "tls")
    port = free_port()
    env = {
        **os.environ,
        "GIAOBAN_VAR_DIR": str(tmp_path),
        "GIAOBAN_HOST": "127.0.0.1",
        "GIAOBAN_PORT": str(port),
        "GIAOBAN_TLS_CERT": str(cert),
        "GIAOBAN_TLS_KEY": str(key),
    }
    migrate = await asyncio.to_thread(run, ["migrate"], env)
    assert migrate.returncode == 0, migrate.stderr
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = await asyncio.create_subprocess_exec(
            *GIAOBAN, "serve", env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 30
        body = None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while time.monotonic() < deadline and body is None:
                assert proc.returncode is None, log.read_text()
                try:
                    async with http.get(f"https://127.0.0.1:{port}/api/health", ssl=trusted) as r:
                        body = await r.json()
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            assert body is not None, log.read_text()
            assert body["database"] == "ok"
            # Plain HTTP on the HTTPS port is not served.
            with pytest.raises(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/api/health") as r:
                    await r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), timeout=15)
    output = log.read_text()
    assert fingerprint(cert) in output
    assert '"GET /api/health" 200' in output


def test_demo_certificate_is_reused_and_names_this_machine(tmp_path: Path):
    from cryptography import x509

    cert, _ = ensure_demo_certificate(tmp_path)
    again, _ = ensure_demo_certificate(tmp_path)
    assert fingerprint(cert) == fingerprint(again)
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert (tmp_path / "demo-key.pem").stat().st_mode & 0o777 == 0o600


def test_a_media_node_needs_the_secret_and_a_port(tmp_path: Path):
    env = {"GIAOBAN_VAR_DIR": str(tmp_path / "var"), "GIAOBAN_MEDIA_SECRET": ""}
    done = run(["media-node", "--listen", "127.0.0.1:7700"], env)
    assert done.returncode == 2 and "GIAOBAN_MEDIA_SECRET" in done.stderr, done.stderr
    env["GIAOBAN_MEDIA_SECRET"] = "x" * 16
    done = run(["media-node", "--listen", "127.0.0.1:port"], env)
    assert done.returncode == 2 and "HOST:PORT" in done.stderr, done.stderr
