"""What people see from the command line: help texts that explain every option, human
commands without log lines on stderr, and `status` telling due work from scheduled work."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cli.commands.status import status_of as link_status
from emulators.harness import RunningEmulators, running_emulators
from store import Database
from store.events import enqueue_events
from store.models import Link, NewEvent
from tests.test_cli_links import ROOT, _add, _env, m365sync
from worker.settings import Settings
from worker.status import link_status as page_status


@pytest.fixture
async def emus(tmp_path: Path) -> AsyncIterator[RunningEmulators]:
    async with running_emulators(tmp_path / "emu", users=2, extensions=1) as running:
        running.graph.identity.grant_admin_consent(running.info["client_id"])
        yield running


def _help(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "cli.cli", *args, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return " ".join(result.stdout.split())  # argparse wraps lines where it likes


def test_link_add_help_explains_auth_and_the_microsoft_urls() -> None:
    """--auth, --authority-url and --graph-url have help text and show their defaults."""
    text = _help("link", "add")
    assert "delegated: an admin signs in with OAuth Token" in text
    assert "(default: application)" in text
    assert "(default: https://login.microsoftonline.com)" in text
    assert "(default: https://graph.microsoft.com)" in text


def test_serve_help_lists_the_environment() -> None:
    """serve --help points to docs/environment.md and names the main variables."""
    text = _help("serve")
    assert "docs/environment.md" in text
    for name in (
        "M365SYNC_DATA_DIR",
        "M365SYNC_LISTEN",
        "M365SYNC_PUBLIC_URL",
        "M365SYNC_SECRET_KEY",
        "M365SYNC_SMTP_URL",
        "M365SYNC_LOG_LEVEL",
    ):
        assert name in text


def test_emulate_help_names_the_tenant_admin_password_and_the_service_accounts() -> None:
    """emulate --help says which password `--pbx-user admin@DOMAIN` needs and that 800-802
    are seeded even with --extensions 0."""
    text = _help("emulate")
    assert "--pbx-user admin@DOMAIN` needs the tenant admin's password" in text
    assert "pbx_tenant_admin_password in emulator.json" in text
    assert "(800), a queue (801) and an IVR node (802), even with --extensions 0" in text


async def test_link_add_prints_no_log_line_on_stderr(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """With stdin and stderr not terminals, `link add` prints its human output and nothing
    on stderr; M365SYNC_LOG_LEVEL brings the log lines back when asked for."""
    env = _env(tmp_path, emus.info)
    code, out, err = await _add(env, emus.info)
    assert code == 0, err
    assert "Integration active" in out
    assert err == ""
    code, _, err = await m365sync(env, "link", "check", "contoso")
    assert (code, err) == (0, "")
    asked = {**env, "M365SYNC_LOG_LEVEL": "info"}
    code, _, err = await m365sync(asked, "link", "check", "contoso")
    assert code == 0, err
    assert '"event": "link.active"' in err  # asked for, as JSON (M365SYNC_LOG_FORMAT=json)


async def test_status_reports_due_and_scheduled_apart(
    db: Database, link: Link, tmp_path: Path
) -> None:
    """Rechecks due in a minute are scheduled, not queue depth; a due event is."""
    now = time.time()
    await enqueue_events(
        db,
        [
            NewEvent(link.id, "recheck", user_id="a", due_at=now + 60),
            NewEvent(link.id, "recheck", user_id="b", due_at=now + 40),
            NewEvent(link.id, "notification", user_id="c", due_at=now - 1),
        ],
    )
    status = await link_status(db, link, Settings(data_dir=tmp_path))
    assert (status["queue_depth"], status["queue_scheduled"]) == (1, 2)
    page = (await page_status(db, link)).to_json()
    assert (page["queue_pending"], page["queue_scheduled"]) == (1, 2)
