"""`m365sync demo` (`make demo`): both emulators, the daemon with a demo link, seeded users
with a few conflicts, everything on loopback under ./data/demo. Ctrl-C stops it all."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web

from admin.passwords import hash_password
from cli.app import create_daemon_app
from cli.commands.parsers import Subcommands
from emulators.harness import RunningEmulators, running_emulators
from emulators.linkinfo import link_fields, link_secrets
from store import Database, open_store
from store.admins import set_admin_account
from store.models import AuthMode, Link, NewLink
from worker.linkadmin import add_link, check_link
from worker.settings import Settings

DEMO_DIR = Path("data/demo")
DEMO_POLICY = {"auto_create": True, "ranges": "200-299", "phone_region": "US"}
DAEMON_ADMIN = "m365sync"


def register(sub: Subcommands) -> None:
    demo = sub.add_parser("demo", help="run a self-contained demo on loopback (make demo)")
    demo.add_argument("--port", type=int, default=8080, help="admin page port (%(default)s)")
    demo.set_defaults(handler=run_demo)


def _user(given: str, surname: str, domain: str, phone: str = "", **extra: Any) -> dict[str, Any]:
    email = f"{given.lower()}.{surname.lower()}@{domain}"
    return {
        "displayName": f"{given} {surname}",
        "givenName": given,
        "surname": surname,
        "mail": email,
        "userPrincipalName": email,
        "businessPhones": [phone] if phone else [],
        "accountEnabled": True,
        "userType": "Member",
        **extra,
    }


def seed_demo(emus: RunningEmulators) -> dict[str, str]:
    """Users and extensions that show each conflict of the manual. Returns user ids by name."""
    directory, pbx = emus.graph.directory, emus.pbx.state
    domain = emus.info["tenant_domain"]
    people = [
        ("Ann", "Lee", "(425) 555-0101"),
        ("Bob", "Stone", "(425) 555-0102"),
        ("Cara", "Diaz", "+1 425 555 0103"),
        ("Dan", "Wu", "(425) 555-0104"),
        ("Eve", "Moss", ""),
    ]
    ids = {g: directory.create_user(**_user(g, s, domain, p))["id"] for g, s, p in people}
    # A display name with markup: the page must show it as text.
    ids["Mallory"] = directory.create_user(
        **_user("Mallory", "Tag", domain, displayName="<script>alert('x')</script> Mallory")
    )["id"]
    # Email conflict: Dan's address is already on two extensions.
    for number in ("250", "251"):
        pbx.add_extension(number, first_name="Dan", last_name="Wu", email=f"dan.wu@{domain}")
    # Number in use (and an unmatched extension for Disable Unmatched Extensions).
    pbx.add_extension("200", first_name="Old", last_name="Employee", email=f"old.employee@{domain}")
    return ids


def link_for_emulators(
    info: Mapping[str, Any],
    *,
    name: str,
    settings: Mapping[str, Any],
    auth_mode: AuthMode = AuthMode.APPLICATION,
) -> NewLink:
    """A link to the emulators described by `emulator.json` (demo, tests, benchmarks)."""
    return NewLink(name=name, auth_mode=auth_mode, settings=settings, **link_fields(info))


async def add_emulator_link(
    db: Database,
    info: Mapping[str, Any],
    *,
    name: str,
    settings: Mapping[str, Any],
    auth_mode: AuthMode = AuthMode.APPLICATION,
) -> Link:
    """Store a link to the emulators with their secrets (not yet checked)."""
    new = link_for_emulators(info, name=name, settings=settings, auth_mode=auth_mode)
    return await add_link(db, new, **link_secrets(info))


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    try:
        asyncio.run(_demo(args.port))
    except KeyboardInterrupt:
        return 130
    return 0


def _fresh_demo_dir() -> Path:
    """Start from a clean slate each time: only the files the demo itself writes."""
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("m365sync.db", "m365sync.db-wal", "m365sync.db-shm"):
        (DEMO_DIR / name).unlink(missing_ok=True)
    return DEMO_DIR


async def _demo(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    demo_dir = _fresh_demo_dir()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=demo_dir,
        database=demo_dir / "m365sync.db",
        listen_port=port,
        public_url=base_url,
        log_level="warning",
    )
    # The demo serves on http://127.0.0.1, which real Graph refuses: the emulator's
    # explicit test switch lets it deliver there.
    async with running_emulators(
        demo_dir / "emulators", graph_options={"allow_http_loopback_notifications": True}
    ) as emus:
        seed_demo(emus)
        password = secrets.token_urlsafe(12)
        await _prepare_store(settings, emus, password)
        runner = web.AppRunner(create_daemon_app(settings, run_worker=True), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            print(_banner(base_url, emus.info, password), flush=True)
            await stop.wait()
            print("\nstopping…", flush=True)
        finally:
            await runner.cleanup()


async def _prepare_store(settings: Settings, emus: RunningEmulators, password: str) -> None:
    info = emus.info
    db = await open_store(settings.database, secret_key=None, key_file=settings.key_file)
    try:
        await set_admin_account(db, DAEMON_ADMIN, hash_password(password))
        link = await add_emulator_link(db, info, name="demo", settings=DEMO_POLICY)
        await check_link(db, link.id, replace(settings))
    finally:
        await db.close()


def _banner(base_url: str, info: dict[str, Any], password: str) -> str:
    return f"""
m365sync demo is running (Ctrl-C stops everything).

  Admin page        {base_url}/links
    sign in as the PBX tenant admin:
      {info["pbx_tenant_admin"]} / {info["pbx_tenant_admin_password"]}
    or as the daemon administrator:
      {DAEMON_ADMIN} / {password}
  Directory console {info.get("console_url")}
    (the emulated Microsoft 365; accept its test certificate)
  PBX emulator      {info["pbx_url"]}   (domain {info["pbx_domain"]})

What to try:
  1. Open the demo link: the seeded users got extensions 201 and up (auto-create is on;
     200 was already taken by an old employee).
  2. Add a user in the directory console and watch its extension appear on the Activity page.
  3. Sync Users & Create Extensions: Dan Wu shows an email conflict in red (his address is
     already on extensions 250 and 251); type 200 for someone to see "already in use".
  4. Disable Unmatched Extensions: 200 (old.employee) has no Microsoft 365 user.
  5. Setup: switch to Admin Consent + OAuth Token to walk the Vodia manual's steps.
  State lives in ./data/demo; nothing is written elsewhere.
"""
