"""The command line against the emulators: real processes, a real database file."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from emulators.harness import RunningEmulators, running_emulators

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def emus(tmp_path: Path) -> Any:
    async with running_emulators(tmp_path / "emu", users=12, extensions=6, seed=7) as running:
        running.graph.identity.grant_admin_consent(running.info["client_id"])
        yield running


def _env(tmp_path: Path, info: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M365SYNC_", "PORT"))}
    env.update(
        M365SYNC_DATA_DIR=str(tmp_path / "data"),
        M365SYNC_LOG_FORMAT="json",
        M365SYNC_CLIENT_SECRET=info["client_secret"],
        M365SYNC_PBX_PASSWORD=info["pbx_tenant_admin_password"],
    )
    return env


async def m365sync(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.cli",
        *args,
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _add(env: dict[str, str], info: dict[str, Any], *extra: str) -> tuple[int, str, str]:
    return await m365sync(
        env,
        "link", "add", "contoso",
        "--tenant-id", info["tenant_id"],
        "--client-id", info["client_id"],
        "--pbx-url", info["pbx_url"],
        "--pbx-domain", info["pbx_domain"],
        "--authority-url", info["authority_url"],
        "--graph-url", info["graph_url"],
        "--ca-bundle", info["ca_path"],
        "--set", "ranges=200-299",
        "--set", "auto_create=true",
        *extra,
    )  # fmt: skip


async def test_link_add_checks_both_sides_and_never_echoes_secrets(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """`link add` reads secrets from the environment, verifies, and shows no secret back."""
    env = _env(tmp_path, emus.info)
    code, out, err = await _add(env, emus.info)
    assert code == 0, err
    assert "Integration active" in out
    code, out, _ = await m365sync(env, "link", "show", "contoso", "--json")
    shown = json.loads(out)
    assert shown["state"] == "active"
    assert sorted(shown["secrets_stored"]) == ["client_secret", "pbx_password"]
    for secret in (emus.info["client_secret"], emus.info["pbx_tenant_admin_password"]):
        assert secret not in out


async def test_bad_pbx_password_leaves_the_link_in_setup_required(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """A wrong PBX password is reported as Setup Required with the reason; exit 1."""
    env = {**_env(tmp_path, emus.info), "M365SYNC_PBX_PASSWORD": "wrong"}
    code, out, _ = await _add(env, emus.info)
    assert code == 1
    assert "Setup Required" in out
    assert "refused the administrator credentials" in out
    code, out, _ = await m365sync(env, "status", "--json")
    assert code == 1
    assert json.loads(out)[0]["state"] == "setup_required"


async def test_missing_secret_without_a_terminal_is_a_usage_error(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """No secret in the environment and no TTY to ask on: exit 2 with one clear line."""
    env = _env(tmp_path, emus.info)
    del env["M365SYNC_CLIENT_SECRET"]
    code, _, err = await _add(env, emus.info)
    assert code == 2
    assert "M365SYNC_CLIENT_SECRET" in err
    assert "Traceback" not in err


async def test_dry_run_json_matches_what_the_real_round_does(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """`resync --dry-run --json` prints exactly the plan the following real round applies."""
    env = _env(tmp_path, emus.info)
    assert (await _add(env, emus.info))[0] == 0
    code, dry, err = await m365sync(env, "resync", "--dry-run", "--json")
    assert code == 0, err
    planned = json.loads(dry)
    assert planned["counts"]["create"] > 0
    pbx_before = len(emus.pbx.state.extensions())
    code, real, err = await m365sync(env, "resync", "--json")
    assert code == 0, err
    assert json.loads(real) == planned
    created = [a["number"] for a in planned["actions"] if a["action"] == "create"]
    assert len(emus.pbx.state.extensions()) == pbx_before + len(created)
    for number in created:
        assert emus.pbx.state.get(number) is not None
    code, again, _ = await m365sync(env, "resync", "--dry-run", "--json")
    assert json.loads(again)["counts"]["create"] == 0


async def test_status_reports_and_exits_zero_when_healthy(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """`status --json` lists the link; exit 0 when active with no failed events."""
    env = _env(tmp_path, emus.info)
    assert (await _add(env, emus.info))[0] == 0
    assert (await m365sync(env, "resync"))[0] == 0
    code, out, _ = await m365sync(env, "status", "--json")
    assert code == 0
    (status,) = json.loads(out)
    assert status["state"] == "active"
    assert status["failed_events"] == 0
    assert "M365SYNC_PUBLIC_URL" in status["subscription"]


async def test_link_set_validates_settings(emus: RunningEmulators, tmp_path: Path) -> None:
    """A junk range is refused with the field named; exit 2."""
    env = _env(tmp_path, emus.info)
    assert (await _add(env, emus.info))[0] == 0
    code, _, err = await m365sync(env, "link", "set", "contoso", "ranges=300-200")
    assert code == 2
    assert "ranges" in err


async def test_disable_unmatched_previews_then_disables_exactly_that(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """`disable-unmatched --dry-run --json` lists what `--yes` then disables, and no more."""
    env = _env(tmp_path, emus.info)
    assert (await _add(env, emus.info))[0] == 0
    emus.pbx.state.add_extension("299", email="left.long.ago@contoso.example")
    assert (await m365sync(env, "resync"))[0] == 0
    code, out, err = await m365sync(env, "disable-unmatched", "--dry-run", "--json")
    assert code == 0, err
    preview = json.loads(out)
    assert preview["kind"] == "disable_unmatched"
    planned = sorted(a["number"] for a in preview["actions"] if a["action"] == "disable")
    assert "299" in planned
    before = {a.number for a in emus.pbx.state.extensions() if a.settings["disabled"] == "true"}
    code, out, err = await m365sync(env, "disable-unmatched", "--yes", "--json")
    assert code == 0, err
    after = {a.number for a in emus.pbx.state.extensions() if a.settings["disabled"] == "true"}
    assert sorted(after - before) == planned


async def test_disable_unmatched_without_a_terminal_needs_yes(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """Without --yes and without a terminal to confirm on, nothing is disabled; exit 2."""
    env = _env(tmp_path, emus.info)
    assert (await _add(env, emus.info))[0] == 0
    emus.pbx.state.add_extension("299", email="left.long.ago@contoso.example")
    code, _, err = await m365sync(env, "disable-unmatched")
    assert code == 2
    assert "--yes" in err
    assert emus.pbx.state.get("299").settings["disabled"] == "false"


async def test_link_set_group_rules_and_the_dry_run_shows_each_users_rule(
    emus: RunningEmulators, tmp_path: Path
) -> None:
    """`link set group_rules=JSON` (issue 17); a bad template field is refused with exit 2;
    the dry-run JSON names the rule of every user's action, and the hunt group line."""
    env = _env(tmp_path, emus.info)
    assert (await _add(env, emus.info, "--set", "auto_create=true", "--set", "ranges=200-299"))[
        0
    ] == 0
    directory = emus.graph.directory
    group_id = directory.groups.create({"displayName": "Support"})["id"]
    member = directory.create_user(
        displayName="Sue Port",
        givenName="Sue",
        surname="Port",
        mail="sue@contoso.example",
        userPrincipalName="sue@contoso.example",
        accountEnabled=True,
        userType="Member",
    )
    directory.groups.add_member(group_id, member["id"])
    emus.graph.identity.set_app_roles(
        emus.info["client_id"], ("User.Read.All", "GroupMember.Read.All")
    )
    bad = json.dumps(
        [{"name": "Support", "group_id": group_id, "template": {"email_address": "x"}}]
    )
    code, _, err = await m365sync(env, "link", "set", "contoso", f"group_rules={bad}")
    assert code == 2 and "group_rules" in err and "email_address" in err
    rules = [{"name": "Support", "group_id": group_id, "ranges": "400-449", "hunt_group": "800"}]
    code, _, err = await m365sync(env, "link", "set", "contoso", f"group_rules={json.dumps(rules)}")
    assert code == 0, err
    code, dry, err = await m365sync(env, "resync", "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(dry)
    creates = {a["email"]: a for a in plan["actions"] if a["action"] == "create"}
    assert creates["sue@contoso.example"]["rule"] == "Support"
    assert creates["sue@contoso.example"]["number"] == "400"
    assert all(a["rule"] in ("Support", "default") for a in plan["actions"] if a["user_id"])
    assert plan["hunts"] == [
        {"number": "800", "rule": "Support", "members": ["400"], "problem": None}
    ]
