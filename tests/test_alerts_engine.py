"""Alerts from real rounds: one conflict digest per round, and a dead mail server that
never holds up or breaks a round."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from store.directory import get_bindings
from store.events import list_events
from store.models import EventKind, EventStatus
from store.records import list_held
from tests.plugins.pipeline import MakeStack, Stack, graph_user
from worker.linkctx import open_link_clients
from worker.mail import EmailAlerts, SmtpTarget
from worker.operations import approve_held

POLICY = {"ranges": "200-200", "alert_emails": ["ops@contoso.example"]}


class Inbox:
    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.mails.append(message)
        return "250 OK"


class Silent(asyncio.Protocol):
    """Accepts the connection and never says a word: the worst kind of dead mail server."""


@pytest.fixture
async def inbox_port() -> AsyncIterator[tuple[Inbox, int]]:
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(inbox), "127.0.0.1", 0)
    yield inbox, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    server = await asyncio.get_running_loop().create_server(Silent, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def _full_range_stack(make_stack: MakeStack, alerts_url: str, **kwargs: Any) -> Stack:
    """Extension 200 (the whole range) taken by Mo, and the engine mailing its alerts."""
    stack = await make_stack(
        policy=POLICY,
        alerts=lambda db: EmailAlerts(
            db, SmtpTarget.from_url(alerts_url), "m365sync@contoso.example", **kwargs
        ),
    )
    await stack.settle()
    stack.directory.create_user(**graph_user("Mo", "Lee", email="mo@contoso.example"))
    await stack.drain()
    assert stack.pbx_state.get("200") is not None
    return stack


async def test_one_conflict_digest_per_round(
    make_stack: MakeStack, inbox_port: tuple[Inbox, int]
) -> None:
    """Two users who find the range full in one round produce one mail naming both."""
    inbox, port = inbox_port
    stack = await _full_range_stack(make_stack, f"smtp://127.0.0.1:{port}")
    stack.directory.create_user(**graph_user("Ann", "Lee", email="ann@contoso.example"))
    stack.directory.create_user(**graph_user("Bo", "Lee", email="bo@contoso.example"))
    await stack.drain()
    alerts = stack.engine.ctx.alerts
    assert isinstance(alerts, EmailAlerts)
    await alerts.drain()
    assert [str(m["Subject"]) for m in inbox.mails] == ["[m365sync] contoso: 2 conflict(s) found"]
    part = inbox.mails[0].get_body(("plain",))
    assert part is not None
    body = str(part.get_content())
    assert "range full conflict: ann@contoso.example" in body
    assert "range full conflict: bo@contoso.example" in body


async def test_dead_mail_server_does_not_hold_up_a_round(
    make_stack: MakeStack, silent_port: int
) -> None:
    """With a mail server that never answers (30 s timeout), rounds that raise alerts still
    finish at once, their events are done, and the next round runs too."""
    stack = await _full_range_stack(
        make_stack, f"smtp://127.0.0.1:{silent_port}", timeout_s=30.0, close_grace_s=0.05
    )
    alerts = stack.engine.ctx.alerts
    assert isinstance(alerts, EmailAlerts)
    started = time.monotonic()
    stack.directory.create_user(**graph_user("Ann", "Lee", email="ann@contoso.example"))
    await stack.drain()
    stack.directory.create_user(**graph_user("Bo", "Lee", email="bo@contoso.example"))
    await stack.drain()
    assert time.monotonic() - started < 10.0
    assert alerts.pending >= 1, "the conflict mail should still be waiting on the server"
    assert alerts.sent == 0
    events = await list_events(stack.db, stack.link.id)
    # All done but the link's next safety poll (worker/polling.py), waiting for its time.
    events = [e for e in events if e.kind is not EventKind.POLL]
    assert events and all(e.status is EventStatus.DONE for e in events)
    await alerts.close()
    assert alerts.pending == 0


async def test_one_held_disables_mail_per_held_list(
    make_stack: MakeStack, inbox_port: tuple[Inbox, int]
) -> None:
    """12 deletions are held and mailed; 11 more join the same held list without a second
    mail, and late notifications re-planning the held ones send none either. Once approved,
    the next mass deletion is a new list and mails again."""
    inbox, port = inbox_port
    policy = {
        "auto_create": True,
        "ranges": "200-299",
        "disable_threshold_count": 10,
        "disable_threshold_percent": 0,
        "alert_emails": ["ops@contoso.example"],
    }
    stack = await make_stack(
        policy=policy,
        alerts=lambda db: EmailAlerts(
            db, SmtpTarget.from_url(f"smtp://127.0.0.1:{port}"), "m@x.example"
        ),
    )
    alerts = stack.engine.ctx.alerts
    assert isinstance(alerts, EmailAlerts)
    await stack.settle()
    users = [stack.directory.create_user(**graph_user(f"User{i:02d}"))["id"] for i in range(37)]
    await stack.drain()
    assert len(await get_bindings(stack.db, stack.link.id)) == 37
    for batch in (users[:12], users[12:23]):
        for user_id in batch:
            stack.directory.soft_delete_user(user_id)
        await stack.drain()
    await alerts.drain()
    assert [str(m["Subject"]) for m in inbox.mails] == ["[m365sync] contoso: 12 disable(s) held"]
    held = await list_held(stack.db, stack.link.id)
    assert len(held) == len({h.action["number"] for h in held}) == 23
    async with await open_link_clients(stack.db, stack.link, stack.settings) as clients:
        await approve_held(stack.db, clients, actor="admin")
    for user_id in users[23:34]:
        stack.directory.soft_delete_user(user_id)
    await stack.drain()
    await alerts.drain()
    assert [str(m["Subject"]) for m in inbox.mails][1:] == [
        "[m365sync] contoso: 11 disable(s) held"
    ]
    await alerts.close()
