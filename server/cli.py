"""The ``giaoban`` command: serve, migrate, seed-demo, demo, create-admin, user,
rotate-feed-key, archive."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import ssl
import sys
from collections.abc import Sequence

from aiohttp import web
from pydantic import ValidationError

import media
from media import loops
from media.worker import announce, run_node
from rooms.access import Access, Actor, ActorKind, Grant
from rooms.errors import DomainError
from rooms.models import RoleName
from rooms.org import (
    create_user,
    list_users,
    remove_role,
    reset_password,
    rotate_feed_key,
    set_user_active,
)
from rooms.scheduling import Scheduler, load_tree
from rooms.schemas import GrantIn, UserIn
from server import __version__
from server.app import create_app, media_settings, runner_options
from server.db import Database, current_revision, head_revision, migrate_sync
from server.demo import is_seeded, save_credentials, seed_demo
from server.security import Passwords
from server.settings import Settings, SettingsError
from server.tls import ensure_demo_certificate, fingerprint, local_addresses, server_context

log = logging.getLogger("giaoban")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _base_urls(settings: Settings) -> list[str]:
    if settings.public_url:
        return [settings.public_url]
    scheme = "https" if settings.tls_enabled else "http"
    hosts = local_addresses() if settings.host in ("0.0.0.0", "::", "") else [settings.host]
    return [f"{scheme}://{h}:{settings.port}" for h in [*hosts, "localhost"]]


def _check_schema(settings: Settings) -> None:
    current, head = current_revision(settings.database_url), head_revision()
    if current != head:
        raise SettingsError(
            f"the database is at revision {current or 'none'}, this version needs {head}: "
            "run `giaoban migrate` first"
        )


def serve(settings: Settings) -> None:
    _check_schema(settings)
    ssl_context = None
    if settings.tls_enabled:
        assert settings.tls_cert and settings.tls_key
        ssl_context = server_context(settings.tls_cert, settings.tls_key)
        print(f"TLS certificate SHA-256 fingerprint: {fingerprint(settings.tls_cert)}", flush=True)
    else:
        print("Serving plain HTTP: browsers allow camera and microphone only on localhost.")
    for url in _base_urls(settings):
        print(f"giaoban {__version__} listening on {url}/", flush=True)
    loops.run(_serve(create_app(settings), settings.host, settings.port, ssl_context),
              settings.event_loop)  # fmt: skip


async def _serve(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then stop it whole.

    Not aiohttp's ``run_app``: it stops the app from inside a cancelled task, and every
    ``cancel_and_wait`` of the app's closing (media/tasks.py) then takes that cancellation for
    its own and ends the closing at the first service; the rest (jobs, archive, media workers,
    database) were cut by the loop's shutdown, a database commit among them."""
    runner = web.AppRunner(app, handle_signals=False, **runner_options())
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping (signal received)")
    finally:
        await runner.cleanup()
    log.info("stopped")


async def _seed(settings: Settings) -> str | None:
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            if await is_seeded(session):
                return None
            creds = await seed_demo(session, Passwords(), Scheduler(settings.series_horizon_days))
        text = creds.render(_base_urls(settings)[0])
        save_credentials(settings.var_dir, text)
        return text
    finally:
        await db.close()


def seed(settings: Settings) -> None:
    text = asyncio.run(_seed(settings))
    if text is None:
        print("The database already holds a province; nothing seeded.")
    else:
        print(text)


def demo(settings: Settings) -> None:
    """Everything the README's first command needs: migrate, seed once, certificate, serve."""
    if not settings.tls_enabled:
        cert, key = ensure_demo_certificate(settings.var_dir / "tls")
        settings = Settings.from_env({**os.environ, "GIAOBAN_TLS_CERT": str(cert),
                                      "GIAOBAN_TLS_KEY": str(key)})  # fmt: skip
    migrate_sync(settings.database_url)
    created = asyncio.run(_seed(settings))
    creds = settings.var_dir / "demo-credentials.txt"
    print("=" * 78)
    print("giaoban demo: tỉnh Quảng Bình (demo province)")
    if created is None and creds.exists():
        print(creds.read_text(encoding="utf-8").rstrip())
    elif created is not None:
        print(created)
    print(f"(kept in {creds})")
    print("The certificate is self-signed: accept it in the browser, or install "
          f"{settings.tls_cert} on the terminals.")  # fmt: skip
    print("=" * 78, flush=True)
    serve(settings)


async def _create_admin(settings: Settings, username: str, full_name: str, password: str) -> None:
    db = Database(settings.database_url)
    passwords = Passwords()
    try:
        async with db.session() as session:
            access = Access(_root(), await load_tree(session))
            data = UserIn(username=username, full_name=full_name, password=password,
                          roles=[GrantIn(role=RoleName.ADMIN)])  # fmt: skip
            await create_user(session, access, data, await passwords.hash(password))
    finally:
        await db.close()


def _root() -> Actor:
    return Actor(ActorKind.USER, "giaoban CLI", grants=(Grant(RoleName.ADMIN, None),))


async def _user_command(settings: Settings, args: argparse.Namespace) -> int:
    """``giaoban user list|deactivate|reactivate|password|remove-role``."""
    import sqlalchemy as sa

    from rooms.models import Unit, User
    from rooms.schemas import PasswordIn
    from server.auth import end_sessions

    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            access = Access(_root(), await load_tree(session))
            if args.user_command == "list":
                for each in await list_users(session, access):
                    roles = ", ".join(
                        r.role.value + (f"@{r.unit_id}" if r.unit_id else "") for r in each.roles
                    )
                    state = "active" if each.active else "inactive"
                    print(f"{each.id:5} {each.username:<24} {state:<9} {roles}")
                return 0
            user = await session.scalar(sa.select(User).where(User.username == args.username))
            if user is None:
                print(f"giaoban: no user {args.username}", file=sys.stderr)
                return 2
            if args.user_command in ("deactivate", "reactivate"):
                active = args.user_command == "reactivate"
                await set_user_active(session, access, user.id, active)
                ended = 0 if active else await end_sessions(session, user.id)
                print(f"user {user.username} {args.user_command}d; {ended} login(s) ended")
            elif args.user_command == "password":
                password = os.environ.get("GIAOBAN_NEW_PASSWORD") or getpass.getpass(
                    "New password: "
                )
                PasswordIn(password=password)  # the policy: 12 characters, not a common one
                await reset_password(session, access, user.id, await Passwords().hash(password))
                ended = await end_sessions(session, user.id)
                print(f"password of {user.username} set; {ended} login(s) ended")
            elif args.user_command == "remove-role":
                unit_id = None
                if args.unit is not None:
                    unit_id = await session.scalar(sa.select(Unit.id).where(Unit.code == args.unit))
                    if unit_id is None:
                        print(f"giaoban: no unit {args.unit}", file=sys.stderr)
                        return 2
                await remove_role(session, access, user.id, RoleName(args.role), unit_id)
                print(f"role {args.role} removed from {user.username}")
    finally:
        await db.close()
    return 0


async def _verify_archive(settings: Settings, meeting_id: int | None) -> int:
    """Re-hash every archived package (or one meeting's) and check the signatures."""
    import sqlalchemy as sa

    from recordings.archive import DirectoryStore
    from recordings.archiving import Archive, SigningIdentity
    from recordings.capture import RecordingSettings
    from recordings.models import ArchivePackage, PackageState
    from recordings.signing import ensure_signing_identity

    if settings.signing_cert and settings.signing_key:
        identity = SigningIdentity(settings.signing_cert, settings.signing_key)
    else:
        identity = SigningIdentity(
            *ensure_signing_identity(settings.var_dir / "signing", settings.organisation)
        )
    db = Database(settings.database_url)
    damaged = 0
    try:
        archive = Archive(db.sessions, DirectoryStore(settings.archive_dir),
                          RecordingSettings(settings.recordings_dir), identity)  # fmt: skip
        async with db.session() as session:
            query = sa.select(ArchivePackage).where(ArchivePackage.state == PackageState.ACTIVE)
            if meeting_id is not None:
                query = query.where(ArchivePackage.meeting_id == meeting_id)
            packages = list(await session.scalars(query.order_by(ArchivePackage.id)))
        for package in packages:
            problems = await archive.verify(package.id)
            state = "OK" if not problems else "DAMAGED"
            print(f"{state:8} meeting {package.meeting_id} v{package.version} ({package.key})")
            for problem in problems:
                print(f"         {problem.file or '(package)'}: {problem.problem}")
            damaged += bool(problems)
        print(f"{len(packages)} package(s) checked, {damaged} damaged")
    finally:
        await db.close()
    return 1 if damaged else 0


async def _rotate_feed_key(settings: Settings, hall_id: int) -> str:
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            root = Actor(ActorKind.USER, "giaoban CLI", grants=(Grant(RoleName.ADMIN, None),))
            hall = await rotate_feed_key(session, Access(root, await load_tree(session)), hall_id)
            return f"{_base_urls(settings)[0]}/api/halls/{hall.id}/calendar.ics?key={hall.feed_key}"
    finally:
        await db.close()


def media_node(settings: Settings, listen: str) -> None:
    """Serve this machine's media to the signalling nodes (``media.worker.run_node``)."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise SettingsError(f"--listen {listen!r} is not HOST:PORT")
    if len(settings.media_secret) < 16:
        raise SettingsError("GIAOBAN_MEDIA_SECRET (16 characters or more) is needed")
    media.aiortc_patch.install()
    relay_host = settings.media_relay_host
    node = run_node(host.strip("[]") or "0.0.0.0", int(port), media_settings(settings),
                    relay_host=relay_host, secret=settings.media_secret,
                    on_listening=announce)  # fmt: skip
    loops.run(node, settings.event_loop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="giaoban", description="giao ban trực tuyến")
    parser.add_argument("--version", action="version", version=f"giaoban {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve HTTP(S) with the settings from GIAOBAN_* variables")
    migrate_p = sub.add_parser("migrate", help="upgrade the database schema")
    migrate_p.add_argument("--revision", default="head")
    sub.add_parser("seed-demo", help="create the demo province in an empty database")
    sub.add_parser("demo", help="migrate, seed the demo once, make a certificate, serve HTTPS")
    admin_p = sub.add_parser("create-admin", help="create an admin (password from "
                             "GIAOBAN_ADMIN_PASSWORD or a prompt)")  # fmt: skip
    admin_p.add_argument("username")
    archive_p = sub.add_parser("archive", help="the archive: verify the packages' integrity")
    archive_sub = archive_p.add_subparsers(dest="archive_command", required=True)
    verify_p = archive_sub.add_parser("verify", help="re-hash files, check signatures")
    verify_p.add_argument("--meeting", type=int, help="only this meeting's packages")
    admin_p.add_argument("--full-name", default="Quản trị hệ thống")
    user_p = sub.add_parser("user", help="people's accounts: list, deactivate, reactivate, "
                            "set a password, remove a role")  # fmt: skip
    user_sub = user_p.add_subparsers(dest="user_command", required=True)
    user_sub.add_parser("list", help="every user, their state and roles (role@unit id)")
    for name, text in (
        ("deactivate", "no more logins; the user's open logins end at once"),
        ("reactivate", "let a deactivated user log in again"),
        ("password", "set a password (from GIAOBAN_NEW_PASSWORD or a prompt); logins end"),
    ):
        user_sub.add_parser(name, help=text).add_argument("username")
    role_p = user_sub.add_parser("remove-role", help="remove one role of a user")
    role_p.add_argument("username")
    role_p.add_argument("role", choices=[r.value for r in RoleName])
    role_p.add_argument("--unit", metavar="CODE", help="the unit's code (not for admin)")
    feed_p = sub.add_parser("rotate-feed-key", help="give a hall's calendar feed a new key "
                            "(the old URL answers 404) and print the new URL")  # fmt: skip
    feed_p.add_argument("hall_id", type=int)
    node_p = sub.add_parser("media-node", help="serve a district's media to the nodes naming "
                            "it in GIAOBAN_MEDIA_NODES (secret: GIAOBAN_MEDIA_SECRET)")  # fmt: skip
    node_p.add_argument("--listen", default="0.0.0.0:7700", metavar="HOST:PORT")
    args = parser.parse_args(argv)

    # What the server writes (the database, recordings, minutes, the archive) is its own.
    os.umask(0o077)
    try:
        settings = Settings.from_env()
        _setup_logging(settings.log_level)
        if args.command == "serve":
            serve(settings)
        elif args.command == "migrate":
            migrate_sync(settings.database_url, args.revision)
            print(f"database at revision {current_revision(settings.database_url)}")
        elif args.command == "seed-demo":
            migrate_sync(settings.database_url)
            seed(settings)
        elif args.command == "demo":
            demo(settings)
        elif args.command == "media-node":
            media_node(settings, args.listen)
        elif args.command == "user":
            return asyncio.run(_user_command(settings, args))
        elif args.command == "archive":
            return asyncio.run(_verify_archive(settings, args.meeting))
        elif args.command == "rotate-feed-key":
            print(asyncio.run(_rotate_feed_key(settings, args.hall_id)))
        elif args.command == "create-admin":
            password = os.environ.get("GIAOBAN_ADMIN_PASSWORD") or getpass.getpass("Password: ")
            asyncio.run(_create_admin(settings, args.username, args.full_name, password))
            print(f"admin {args.username} created")
    except SettingsError as exc:
        print(f"giaoban: {exc}", file=sys.stderr)
        return 2
    except (DomainError, ValidationError) as exc:
        print(f"giaoban: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
