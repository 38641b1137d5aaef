"""The doctor's reading of token permissions (`roles` for application tokens, `scp` for
delegated ones, as Microsoft documents them) and the delegated mode against the emulator."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from store.links import get_link, load_token_cache, save_token_cache, update_link
from store.models import AuthMode
from tests.plugins.doctor import DoctorEnv
from tests.signin import oauth_token
from worker.doctor.claims import (
    UnreadableToken,
    granted,
    is_guid,
    missing_permissions,
    required_permissions,
)
from worker.linkadmin import save_settings


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


@pytest.mark.parametrize(
    ("claims", "delegated", "scope", "missing"),
    [
        ({"roles": ["User.Read.All"]}, False, "all", ()),
        ({"roles": ["User.Read.All"]}, False, "groups", ("GroupMember.Read.All",)),
        ({"roles": ["User.Read.All", "GroupMember.Read.All"]}, False, "groups", ()),
        ({"roles": ["Directory.Read.All"]}, False, "groups", ()),  # wider covers both
        ({"roles": ["User.Read.All", "Group.Read.All"]}, False, "groups", ()),
        ({}, False, "all", ("User.Read.All",)),  # no consent: no roles claim at all
        ({"scp": "User.Read.All"}, False, "all", ("User.Read.All",)),  # app reads roles only
        ({"scp": "openid profile User.Read.All"}, True, "all", ()),
        ({"scp": "User.Read.All"}, True, "groups", ("GroupMember.Read.All",)),
        ({"roles": ["User.Read.All"]}, True, "all", ("User.Read.All",)),  # delegated: scp
    ],
)
def test_missing_permissions_by_claim(
    claims: dict[str, Any], delegated: bool, scope: str, missing: tuple[str, ...]
) -> None:
    have = granted(jwt(claims), delegated=delegated)
    assert missing_permissions(have.permissions, required_permissions(scope)) == missing


def test_tenant_guid_and_unreadable_tokens() -> None:
    assert is_guid("7f3c2a10-5b1e-4c7d-9a2e-0d4b6c8e1f20")
    assert not is_guid("contoso.onmicrosoft.com")
    assert granted(jwt({"tid": "abc"}), delegated=False).tenant_id == "abc"
    with pytest.raises(UnreadableToken):
        granted("opaque-token", delegated=False)
    with pytest.raises(UnreadableToken):
        granted("a.!!!.c", delegated=False)


async def test_group_scope_needs_group_member_read_all(doctor_env: DoctorEnv) -> None:
    """The emulator's app token carries User.Read.All only: a groups scope names what to add."""
    env = doctor_env
    group = env.emus.graph.directory.groups.create({"displayName": "Sales"})
    settings = {**env.link.settings, "scope": "groups", "group_ids": [group["id"]]}
    await save_settings(env.db, env.link.id, settings)
    report = await env.doctor()
    found = {c.id: c for c in report.checks}
    assert found["permissions"].title == "Token carries User.Read.All and GroupMember.Read.All"
    assert not found["permissions"].ok
    assert "missing GroupMember.Read.All" in found["permissions"].detail
    assert "Application permission GroupMember.Read.All" in found["permissions"].fix
    assert "graph_groups" in found

    grant_group_member_read_all(env)
    found = {c.id: c for c in (await env.doctor()).checks}
    assert found["permissions"].ok, found["permissions"].detail
    assert found["graph_groups"].ok, found["graph_groups"].detail


def grant_group_member_read_all(env: DoctorEnv) -> None:
    env.emus.graph.identity.set_app_roles(
        env.emus.info["client_id"], ("User.Read.All", "GroupMember.Read.All")
    )


async def test_group_scope_with_an_unknown_group(doctor_env: DoctorEnv) -> None:
    env = doctor_env
    grant_group_member_read_all(env)
    settings = {
        **env.link.settings,
        "scope": "groups",
        "group_ids": ["00000000-0000-4000-8000-000000000000"],
    }
    await save_settings(env.db, env.link.id, settings)
    found = {c.id: c for c in (await env.doctor()).checks}
    assert not found["graph_groups"].ok
    assert (
        "group 00000000-0000-4000-8000-000000000000 does not exist" in found["graph_groups"].detail
    )
    assert "group_ids" in found["graph_groups"].fix


async def _oauth_token(env: DoctorEnv) -> None:
    link = await get_link(env.db, env.link.id)
    secret = env.emus.info["client_secret"]
    await oauth_token(env.db, link, env.settings, secret, env.emus.graph.client_ssl_context())


async def test_delegated_link_without_then_with_oauth_token(doctor_env: DoctorEnv) -> None:
    """No signed-in admin: the fix is the manual's "OAuth Token" again. After it: `scp` is
    read, and the stored token cache is left exactly as it was."""
    env = doctor_env
    await update_link(env.db, env.link.id, auth_mode=AuthMode.DELEGATED)
    found = {c.id: c for c in (await env.doctor()).checks}
    assert found["token"].title == "Token obtained (delegated mode)"
    assert not found["token"].ok
    assert 'Click "OAuth Token" again' in found["token"].fix

    await _oauth_token(env)
    # An access token past its expiry makes MSAL refresh (and change its cache) in the run.
    cache = json.loads(await load_token_cache(env.db, env.link.id) or "{}")
    assert cache["AccessToken"]
    for entry in cache["AccessToken"].values():
        entry["expires_on"] = entry["extended_expires_on"] = "1"
    cache_before = json.dumps(cache)
    await save_token_cache(env.db, env.link.id, cache_before)
    found = {c.id: c for c in (await env.doctor()).checks}
    assert found["token"].ok and found["permissions"].ok
    assert "`scp`" in found["permissions"].detail
    assert "User.Read.All" in found["permissions"].detail
    assert found["graph_users"].ok
    assert await load_token_cache(env.db, env.link.id) == cache_before


def test_troubleshooting_doc_maps_every_doctor_line() -> None:
    """docs/troubleshooting.md lists each check id, under the manual's headings in order."""
    from pathlib import Path

    from worker.doctor import ORDER

    text = (Path(__file__).resolve().parent.parent / "docs/troubleshooting.md").read_text()
    for check_id in ORDER:
        assert f"(`{check_id}`" in text, check_id
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    manual = ['"Setup Required"', "No users", "Auto-sync", "Extensions not", "Token exp"]
    positions = [next(i for i, h in enumerate(headings) if m in h) for m in manual]
    assert positions == sorted(positions)
