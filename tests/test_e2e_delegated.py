"""The Vodia manual's mode end to end: a link signed in with OAuth Token (delegated tokens,
MSAL cache encrypted in the store) syncs; when the sign-in is revoked the link goes to
Setup Required and keeps its events; "OAuth Token" again resumes it, settings intact."""

from __future__ import annotations

from store.events import list_events
from store.links import get_link, update_link
from store.models import AuthMode, EventStatus, LinkState
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from tests.signin import oauth_token
from worker.linkadmin import check_link


async def _oauth_token(stack: Stack) -> None:
    """What the "OAuth Token" button does, without the browser."""
    link = await get_link(stack.db, stack.link.id)
    secret = stack.emus.info["client_secret"]
    trust = stack.emus.graph.client_ssl_context()
    await oauth_token(stack.db, link, stack.settings, secret, trust)
    assert (await check_link(stack.db, link.id, stack.settings)).state is LinkState.ACTIVE


async def test_delegated_link_syncs_survives_revocation_and_resumes(
    make_stack: MakeStack,
) -> None:
    """Revoked refresh token → Setup Required with events kept → OAuth Token → applied."""
    stack = await make_stack(policy={"phone_region": "DE"})
    await update_link(stack.db, stack.link.id, auth_mode=AuthMode.DELEGATED)
    await _oauth_token(stack)
    await stack.settle()
    stack.directory.create_user(**graph_user("Anna"))
    await stack.drain()
    assert stack.pbx_state.get("200") is not None

    stack.emus.graph.identity.revoke_refresh_tokens()
    stack.emus.graph.advance_clock(3700)  # the access token expires; refreshing is refused
    stack.directory.create_user(**graph_user("Bernd"))
    await stack.drain()
    link = await get_link(stack.db, stack.link.id)
    assert link.state is LinkState.SETUP_REQUIRED
    assert "OAuth Token" in link.state_reason
    assert await list_events(stack.db, link.id, EventStatus.PENDING)
    assert stack.pbx_state.get("201") is None

    await _oauth_token(stack)
    await stack.work()
    assert stack.pbx_state.get("201") is not None
    after = await get_link(stack.db, stack.link.id)
    assert after.settings == link.settings, "no settings lost"
