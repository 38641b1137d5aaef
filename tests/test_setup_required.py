"""A link that can no longer authenticate goes to Setup Required the same way whether a
round or the subscription upkeep finds out (one mark_setup_required)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from store.links import get_link
from store.models import LinkState
from tests.plugins.pipeline import MakeStack, Stack
from worker.alerts import Alerts
from worker.errors import SetupRequired
from worker.setuprequired import mark_setup_required
from worker.subscriptions import VERIFY_EVERY_S


class Recorded(Alerts):
    def __init__(self) -> None:
        self.setup: list[tuple[str, str]] = []

    async def setup_required(self, link: object, reason: str) -> None:
        self.setup.append((getattr(link, "name", ""), reason))


def _failures(link: str) -> float:
    value = REGISTRY.get_sample_value("m365sync_token_refresh_failures_total", {"link": link})
    return value or 0.0


async def _lose_consent(stack: Stack) -> None:
    await stack.settle()
    stack.emus.graph.identity.revoke_admin_consent(stack.emus.info["client_id"])
    stack.emus.graph.advance_clock(3700)  # the cached token expires; the new one has no roles


async def test_subscription_upkeep_marks_setup_required_like_a_round(
    make_stack: MakeStack,
) -> None:
    """Upkeep that hits lost consent: Setup Required with the reason, the token failure
    counted, the alert sent, and the link's clients closed (opened afresh afterwards)."""
    alerts = Recorded()
    stack = await make_stack(alerts=lambda db: alerts)
    await _lose_consent(stack)
    before = _failures(stack.link.name)
    # The subscription made at start is trusted for VERIFY_EVERY_S; the next look at Graph
    # is the upkeep that meets the lost consent.
    stack.shift_clock(VERIFY_EVERY_S)
    stack.emus.graph.advance_clock(VERIFY_EVERY_S)
    await stack.engine.scheduler.maintain()
    link = await get_link(stack.db, stack.link.id)
    assert link.state is LinkState.SETUP_REQUIRED
    assert "consent" in link.state_reason.lower()
    assert _failures(link.name) == before + 1
    assert alerts.setup == [(link.name, link.state_reason)]


async def test_a_failing_alert_does_not_break_marking(make_stack: MakeStack) -> None:
    class Broken(Alerts):
        async def setup_required(self, link: object, reason: str) -> None:
            raise RuntimeError("mail server down")

    stack = await make_stack(alerts=lambda db: Broken())
    engine = stack.engine
    clients = await engine.clients.get(stack.link)
    await mark_setup_required(engine.ctx, engine.clients, stack.link, SetupRequired("gone"))
    assert (await get_link(stack.db, stack.link.id)).state is LinkState.SETUP_REQUIRED
    assert await engine.clients.get(await get_link(stack.db, stack.link.id)) is not clients
