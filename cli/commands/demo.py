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
# Automatic Extension Creation off, so users wait in "Sync Users & Create Extensions"; a
# small range, so "no free number left" can be seen too.
DEMO_POLICY = {"auto_create": False, "ranges": "200-209", "phone_region": "US"}
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


DEMO_PEOPLE = (
    ("Ann", "Lee", "(425) 555-0101"),
    ("Bob", "Stone", "(425) 555-0102"),
    ("Cara", "Diaz", "+1 425 555 0103"),
    ("Dan", "Wu", "(425) 555-0104"),
    ("Eve", "Moss", ""),
    ("Fay", "Ng", "(425) 555-0106"),
    ("Gus", "Park", "(425) 555-0107"),
    ("Hal", "Roy", "(425) 555-0108"),
    ("Ivy", "Chen", "(425) 555-0109"),
    ("Jon", "Bell", "(425) 555-0110"),
)


def seed_demo(emus: RunningEmulators) -> dict[str, str]:
    """Users and extensions that let every step of the Vodia manual be tried: with
    DEMO_POLICY's range 200-209 (200 taken) ten users wait for nine free numbers, and each
    conflict of the popup has a user to show it. Returns user ids by first name."""
    directory, pbx = emus.graph.directory, emus.pbx.state
    domain = emus.info["tenant_domain"]
    ids = {g: directory.create_user(**_user(g, s, domain, p))["id"] for g, s, p in DEMO_PEOPLE}
    # A display name with markup: the page must show it as text.
    ids["Mallory"] = directory.create_user(
        **_user("Mallory", "Tag", domain, displayName="<script>alert('x')</script> Mallory")
    )["id"]
    # No usable email: an external user converted to a member keeps the guest-style UPN
    # ("...#EXT#@tenant") and has no mailbox (Microsoft Learn, "Convert external users to
    # internal users" keeps the UPN unless changed).
    ids["Pat"] = directory.create_user(
        **_user(
            "Pat",
            "Kim",
            domain,
            mail=None,
            userPrincipalName=f"pat_fabrikam.example#EXT#@{domain}",
        )
    )["id"]
    # Email conflict: Dan's address is already on two extensions.
    for number in ("250", "251"):
        pbx.add_extension(number, first_name="Dan", last_name="Wu", email=f"dan.wu@{domain}")
    # Number in use, and the unmatched extension for Disable Unmatched Extensions.
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


# The banner's steps. tests/test_browser_demo.py walks them as printed, in a browser against
# the same seed: every claim in quotes below is checked there.
DEMO_STEPS = """What to try (Automatic Extension Creation is off on the demo link: 10 users wait for
one of the 9 free numbers 201-209; 200 belongs to an old employee):
  1. Setup, the Vodia manual's way: choose "Admin Consent + OAuth Token", click
     Admin Consent, then OAuth Token: "Integration active" shows in green. Click Save.
  2. Overview: click "Sync Users & Create Extensions". The popup lists 12 users;
     in red: Dan Wu ("already on extension 250", and 251) and Pat Kim ("no usable email").
     Type 200 for Ann Lee: "200 is already in use", with a suggested number.
     Type 205 for Bob Stone and for Cara Diaz: "chosen for more than one user".
  3. Click "Select all", then "Auto-assign": nine users get 201 to 209, the tenth
     "no free number left in 200-209". Click "Create Extensions": "Results: 9 of 12 done".
  4. Click "Disable Unmatched Extensions": 200 (old.employee@) matches no Microsoft 365
     user. Confirm: it is disabled, never deleted.
  5. Activity: every extension created and disabled, and the Setup save, with who did it.
"""


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

{DEMO_STEPS}  State lives in ./data/demo; nothing is written elsewhere.
"""
