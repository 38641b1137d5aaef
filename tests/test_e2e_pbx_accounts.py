"""End to end: a link whose range covers the PBX's hunt group, queue and IVR (800-802), a
create the PBX refuses, and a number another admin takes while a round runs.

The whole product on loopback (real webhook, queue, rounds, emulators, SQLite file); the
forced failures are emulator faults, and alerts go to a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiosmtpd.smtp import SMTP
from prometheus_client import REGISTRY

from cli.commands.status import needs_attention
from cli.commands.status import status_of as link_status
from emulators.faults import FaultRule
from store.directory import get_bindings
from store.events import list_events, retry_failed
from store.models import EventStatus
from store.records import list_audit
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from tests.test_alerts_engine import Inbox
from worker import operations
from worker.mail import EmailAlerts, SmtpTarget
from worker.status import link_status as page_status

POLICY = {"auto_create": True, "ranges": "800-899", "alert_emails": ["ops@contoso.example"]}
ANN = graph_user("Ann", "Lee")
BO = graph_user("Bo", "Kim")


@pytest.fixture
async def mail() -> AsyncIterator[tuple[Inbox, int]]:
    """A real SMTP server on loopback collecting the alert mails."""
    inbox = Inbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(inbox), "127.0.0.1", 0)
    yield inbox, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"link": "contoso", **labels}) or 0.0


async def _numbers(stack: Stack) -> dict[str, str]:
    """Email -> bound number."""
    bindings = await get_bindings(stack.db, stack.link.id)
    return {stack.directory.get_user(b.user_id)["mail"]: b.number for b in bindings}


async def _stack(make_stack: MakeStack, port: int) -> Stack:
    stack = await make_stack(
        policy=POLICY,
        alerts=lambda db: EmailAlerts(
            db, SmtpTarget.from_url(f"smtp://127.0.0.1:{port}"), "m365sync@contoso.example"
        ),
    )
    await stack.settle()
    return stack


def _service_accounts_untouched(stack: Stack) -> None:
    for number, usertype, display in (
        ("800", "hunts", "Sales Hunt"),
        ("801", "acds", "Support Queue"),
        ("802", "ivrnodes", "Main Menu"),
    ):
        account = stack.pbx_state.get(number)
        assert account is not None and account.usertype == usertype
        assert account.settings["display_name"] == display
        assert "first_name" not in account.settings and "email_address" not in account.settings


async def test_numbering_over_800_802_skips_the_service_accounts(
    make_stack: MakeStack, mail: tuple[Inbox, int]
) -> None:
    """New users get 803 and 804; the hunt group, queue and IVR are not written to and
    no create fails."""
    _, port = mail
    stack = await _stack(make_stack, port)
    stack.directory.create_user(**ANN)
    stack.directory.create_user(**BO)
    await stack.drain()
    assert await _numbers(stack) == {
        "ann.lee@contoso.example": "803",
        "bo.kim@contoso.example": "804",
    }
    _service_accounts_untouched(stack)
    assert [e for e in await list_audit(stack.db, stack.link.id) if e.outcome == "failed"] == []
    assert (await link_status(stack.db, stack.link, stack.settings))["failed_events"] == 0


async def test_a_refused_create_is_audited_counted_alerted_and_retried(
    make_stack: MakeStack, mail: tuple[Inbox, int]
) -> None:
    """The PBX refuses addacc once: the user has no extension, and that shows everywhere
    (Activity row with the PBX's reason, failed events in status and on the page, the
    failed-actions metric, an alert mail); `retry-failed` re-plans the user, who then gets
    the extension, and the failure is over."""
    inbox, port = mail
    stack = await _stack(make_stack, port)
    stack.emus.pbx.faults.add(FaultRule(r"/addacc", "status", count=1, method="POST", status=400))
    failed_before = _metric("m365sync_actions_total", kind="create", outcome="failed")
    user = stack.directory.create_user(**ANN)
    await stack.drain()
    assert await get_bindings(stack.db, stack.link.id) == []
    assert stack.pbx_state.get("803") is None

    (audit,) = [e for e in await list_audit(stack.db, stack.link.id) if e.outcome == "failed"]
    assert (audit.action, audit.number, audit.user_id) == ("create", "803", user["id"])
    assert "addacc answered 400" in audit.reason
    assert _metric("m365sync_actions_total", kind="create", outcome="failed") == failed_before + 1

    status = await link_status(stack.db, stack.link, stack.settings)
    assert status["failed_events"] == 1 and needs_attention(status)
    assert "create 803 for ann.lee@contoso.example" in status["last_error"]
    assert "addacc answered 400" in status["last_error"]
    page = (await page_status(stack.db, stack.link)).to_json()
    assert page["events_failed"] == 1
    assert "create 803" in str(page["last_failure"])
    await stack.engine.run_until_idle(maintain=True)
    assert _metric("m365sync_failed_events") == 1

    alerts = stack.engine.ctx.alerts
    assert isinstance(alerts, EmailAlerts)
    await alerts.drain()
    subjects = [str(m["Subject"]) for m in inbox.mails]
    assert subjects == ["[m365sync] contoso: 1 PBX write(s) failed"]
    part = inbox.mails[0].get_body(("plain",))
    assert part is not None
    assert "create extension 803 (ann.lee@contoso.example)" in str(part.get_content())

    assert await retry_failed(stack.db, stack.link.id) == 1
    stack.engine.ctx.waker.wake()
    await stack.drain()
    assert await _numbers(stack) == {"ann.lee@contoso.example": "803"}
    status = await link_status(stack.db, stack.link, stack.settings)
    assert status["failed_events"] == 0 and not needs_attention(status)
    assert await list_events(stack.db, stack.link.id, EventStatus.FAILED) == []


async def test_a_manual_resync_retries_a_refused_create(
    make_stack: MakeStack, mail: tuple[Inbox, int]
) -> None:
    """A resync (command line, admin page) plans the users whose write failed again: its
    dry run shows the create, the resync makes it, and the failure is cleared."""
    _, port = mail
    stack = await _stack(make_stack, port)
    stack.emus.pbx.faults.add(FaultRule(r"/addacc", "status", count=1, method="POST", status=400))
    stack.directory.create_user(**ANN)
    await stack.drain()
    assert (await link_status(stack.db, stack.link, stack.settings))["failed_events"] == 1
    clients = await stack.engine.clients.get(stack.link)
    planned = await operations.dry_run(stack.db, clients)
    assert [a.number for a in planned.plan.by_kind("create")] == ["803"]
    await operations.resync(stack.db, clients)
    assert await _numbers(stack) == {"ann.lee@contoso.example": "803"}
    assert (await link_status(stack.db, stack.link, stack.settings))["failed_events"] == 0


@pytest.mark.parametrize("usertype", ["hunts", "conferences"])
async def test_a_number_taken_meanwhile_is_retried_with_the_next_free_one(
    make_stack: MakeStack, mail: tuple[Inbox, int], usertype: str
) -> None:
    """Another admin creates an account at 803 just before our create: Ann moves to the
    next free number (805: 804 is Bo's in the same round), 803 is not handed out again,
    the move is in the Activity trail and the metric, and nothing counts as failed."""
    _, port = mail
    stack = await _stack(make_stack, port)
    stack.emus.pbx.concurrent_accounts.add(r"/user_settings/803$", "803", usertype, "Late")
    taken_before = _metric("m365sync_numbers_taken_total")
    stack.directory.create_user(**ANN)
    stack.directory.create_user(**BO)
    await stack.drain()
    assert await _numbers(stack) == {
        "ann.lee@contoso.example": "805",
        "bo.kim@contoso.example": "804",
    }
    late = stack.pbx_state.get("803")
    assert late is not None and late.usertype == usertype
    assert late.settings["display_name"] == "Late" and "first_name" not in late.settings
    ann = stack.pbx_state.get("805")
    assert ann is not None and ann.settings["email_address"] == "ann.lee@contoso.example"

    trail = [(e.number, e.outcome, e.reason) for e in await list_audit(stack.db, stack.link.id)]
    ann_rows = [row for row in trail if row[0] in ("803", "805")]
    assert ann_rows[1][:2] == ("803", "failed")
    assert "already exists" in ann_rows[1][2] and "retrying with 805" in ann_rows[1][2]
    assert ann_rows[0][:2] == ("805", "ok")
    assert _metric("m365sync_numbers_taken_total") == taken_before + 1
    assert (await link_status(stack.db, stack.link, stack.settings))["failed_events"] == 0

    # A later user skips 803 too: it is an account on the PBX now.
    stack.directory.create_user(**graph_user("Cy", "Day"))
    await stack.drain()
    assert (await _numbers(stack))["cy.day@contoso.example"] == "806"
