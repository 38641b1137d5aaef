"""E-mail alerts against a real SMTP server (aiosmtpd) on loopback: each kind arrives once
with its content, the quiet period holds, credentials expiring, secrets never in a mail."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from store import Database
from store.alerts import list_sent
from store.links import set_secret, update_link_settings
from store.models import Event, EventStatus, Link
from worker.linkctx import CLIENT_CERTIFICATE, CLIENT_SECRET, PBX_PASSWORD
from worker.mail import EmailAlerts, SmtpTarget
from worker.planner import Action, ActionKind, ConflictKind, Plan, Reason

SMTP_USER = "relay-user"
SMTP_PASSWORD = "relay-pa55word!"
CLIENT_SECRET_VALUE = "Qx8~client-secret-value-0123456789"
PBX_PASSWORD_VALUE = "pbx-Adm1n-passw0rd"
DAY_S = 86400.0


@dataclass
class Inbox:
    """What the loopback SMTP server received, with the envelope it came in."""

    mails: list[tuple[list[str], EmailMessage, bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), message, raw))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for _, m, _ in self.mails]

    def body(self, index: int) -> str:
        part = self.mails[index][1].get_body(("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int
    ca_path: Path | None = None
    scheme: str = "smtp"

    def url(self, scheme: str | None = None) -> str:
        scheme = scheme or self.scheme
        return f"{scheme}://{SMTP_USER}:{SMTP_PASSWORD.replace('!', '%21')}@127.0.0.1:{self.port}"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    if ok:
        server.event_handler.logins.append(SMTP_USER)
    return AuthResult(success=ok)


async def _serve(
    inbox: Inbox, tls: ssl.SSLContext | None, *, implicit_tls: bool = False
) -> asyncio.Server:
    starttls = tls is not None and not implicit_tls

    def factory() -> SMTP:
        return SMTP(
            inbox,
            hostname="mail.test",
            authenticator=_authenticate,
            # aiosmtpd counts only STARTTLS as TLS; with smtps the whole session is TLS.
            auth_require_tls=starttls,
            tls_context=tls if starttls else None,
            require_starttls=starttls,
        )

    server_tls = tls if implicit_tls else None
    return await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0, ssl=server_tls)


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    """A plain SMTP server with AUTH on a loopback port."""
    inbox = Inbox()
    server = await _serve(inbox, None)
    yield SmtpServer(inbox, server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


@pytest.fixture(params=["smtp+starttls", "smtps"])
async def tls_server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SmtpServer]:
    """An SMTP server with a trustme certificate: STARTTLS required before AUTH, or TLS
    from the first byte (smtps)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_path = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    inbox = Inbox()
    server = await _serve(inbox, context, implicit_tls=request.param == "smtps")
    yield SmtpServer(inbox, server.sockets[0].getsockname()[1], ca_path, request.param)
    server.close()
    await server.wait_closed()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def alerting_link(db: Database, link: Link) -> Link:
    await set_secret(db, link.id, CLIENT_SECRET, CLIENT_SECRET_VALUE)
    await set_secret(db, link.id, PBX_PASSWORD, PBX_PASSWORD_VALUE)
    return await update_link_settings(
        db, link.id, {**link.settings, "alert_emails": "ops@contoso.example, it@contoso.example"}
    )


def _alerts(db: Database, url: str, clock: Clock | None = None, **kwargs: Any) -> EmailAlerts:
    return EmailAlerts(
        db,
        SmtpTarget.from_url(url, ca_bundle=kwargs.pop("ca_bundle", None)),
        "m365sync@contoso.example",
        public_url="https://sync.contoso.example",
        timeout_s=5.0,
        clock=clock or Clock(),
        **kwargs,
    )


def _conflict(number: str, mail: str, kind: ConflictKind = ConflictKind.EMAIL) -> Action:
    return Action(
        kind=ActionKind.CONFLICT,
        reason=Reason.CONFLICT,
        user_id=f"user-{number}",
        number=number,
        email=mail,
        conflict=kind,
        message=f"{mail} is already on extension {number}",
    )


def _held(number: str) -> Action:
    return Action(
        kind=ActionKind.HELD,
        reason=Reason.SOFT_DELETED,
        number=number,
        email=f"u{number}@contoso.example",
        held_kind=ActionKind.DISABLE,
    )


def _failed_event(link: Link, event_id: int) -> Event:
    return Event(
        id=event_id,
        link_id=link.id,
        kind="notification",
        user_id=None,
        payload={},
        status=EventStatus.FAILED,
        attempts=8,
        due_at=0.0,
        lease_until=None,
        claimed_by=None,
        last_error="boom",
        created_at=0.0,
    )


async def _every_hook_twice(alerts: EmailAlerts, link: Link, error: str) -> None:
    conflicts = [_conflict("201", "ann@contoso.example"), _conflict("202", "bo@contoso.example")]
    plan = Plan.of("round", conflicts)
    for _ in range(2):
        await alerts.conflicts_found(link, plan, conflicts)
        await alerts.setup_required(link, f"invalid_grant: {error}")
        await alerts.disables_held(link, [_held(str(n)) for n in range(210, 222)], 10)
        await alerts.events_failed(link, [_failed_event(link, 1), _failed_event(link, 2)], error)
        await alerts.subscription_failed(link, f"validation failed: {error}")


async def test_each_alert_kind_arrives_once_with_its_content(
    db: Database, alerting_link: Link, smtp_server: SmtpServer
) -> None:
    """Five kinds, each raised twice: five mails, one per kind, to the link's recipients."""
    alerts = _alerts(db, smtp_server.url())
    await _every_hook_twice(alerts, alerting_link, "HTTP 500")
    await alerts.drain()
    await alerts.close()
    inbox = smtp_server.inbox
    assert sorted(inbox.subjects()) == sorted(
        [
            "[m365sync] contoso: 2 conflict(s) found",
            "[m365sync] contoso: Setup Required",
            "[m365sync] contoso: 12 disable(s) held",
            "[m365sync] contoso: 2 event(s) failed",
            "[m365sync] contoso: subscription not renewed",
        ]
    )
    assert all(to == ["ops@contoso.example", "it@contoso.example"] for to, _, _ in inbox.mails)
    assert inbox.logins == [SMTP_USER] * 5
    bodies = {
        str(message["Subject"]).split(": ", 1)[1]: inbox.body(i)
        for i, (_, message, _) in enumerate(inbox.mails)
    }
    conflicts = bodies["2 conflict(s) found"]
    assert "email conflict: ann@contoso.example extension 201" in conflicts
    assert "bo@contoso.example extension 202" in conflicts
    assert "https://sync.contoso.example/" in conflicts
    assert "invalid_grant: HTTP 500" in bodies["Setup Required"]
    assert "the limit of 10" in bodies["12 disable(s) held"]
    assert "disable extension 215 (u215@contoso.example)" in bodies["12 disable(s) held"]
    assert "Last error: HTTP 500" in bodies["2 event(s) failed"]
    assert "M365SYNC_PUBLIC_URL" in bodies["subscription not renewed"]
    assert len(await list_sent(db, alerting_link.id)) == 5


async def test_secrets_never_appear_in_a_mail(
    db: Database, alerting_link: Link, smtp_server: SmtpServer
) -> None:
    """Stored secrets, the relay password and inline credentials are masked in every mail."""
    ca = trustme.CA()
    pem = ca.issue_cert("app.contoso.example").private_key_and_cert_chain_pem.bytes().decode()
    await set_secret(db, alerting_link.id, CLIENT_CERTIFICATE, pem)
    leaky = (
        f"secret {CLIENT_SECRET_VALUE} / pbx {PBX_PASSWORD_VALUE} / relay {SMTP_PASSWORD} / "
        f"Authorization: Bearer eyJhbGciOi.payload.sig / refresh_token=0.AAAAsecret / "
        f"{pem.splitlines()[1]}"
    )
    alerts = _alerts(db, smtp_server.url())
    await _every_hook_twice(alerts, alerting_link, leaky)
    await alerts.drain()
    await alerts.close()
    assert len(smtp_server.inbox.mails) == 5
    for _, _, raw in smtp_server.inbox.mails:
        text = raw.decode()
        for secret in (CLIENT_SECRET_VALUE, PBX_PASSWORD_VALUE, SMTP_PASSWORD, "eyJhbGciOi"):
            assert secret not in text
        assert "0.AAAAsecret" not in text
        assert pem.splitlines()[1] not in text
    assert "[redacted]" in smtp_server.inbox.body(1)


async def test_quiet_period_holds_then_lets_the_alert_through(
    db: Database, alerting_link: Link, smtp_server: SmtpServer
) -> None:
    """The same alert waits out the quiet period (across a restart); a new conflict set
    is a new alert."""
    clock = Clock()
    conflicts = [_conflict("201", "ann@contoso.example")]
    plan = Plan.of("round", conflicts)
    first = _alerts(db, smtp_server.url(), clock, quiet_period_s=3600.0)
    await first.conflicts_found(alerting_link, plan, conflicts)
    await first.drain()
    await first.close()
    restarted = _alerts(db, smtp_server.url(), clock, quiet_period_s=3600.0)
    clock.now += 1800
    await restarted.conflicts_found(alerting_link, plan, conflicts)
    await restarted.drain()
    assert len(smtp_server.inbox.mails) == 1
    more = [*conflicts, _conflict("205", "cy@contoso.example", ConflictKind.NUMBER)]
    await restarted.conflicts_found(alerting_link, plan, more)
    await restarted.drain()
    assert len(smtp_server.inbox.mails) == 2
    clock.now += 1801
    await restarted.conflicts_found(alerting_link, plan, conflicts)
    await restarted.drain()
    await restarted.close()
    assert smtp_server.inbox.subjects() == [
        "[m365sync] contoso: 1 conflict(s) found",
        "[m365sync] contoso: 2 conflict(s) found",
        "[m365sync] contoso: 1 conflict(s) found",
    ]


async def test_certificate_and_secret_expiry_alerts_at_30_and_7_days(
    db: Database, alerting_link: Link, smtp_server: SmtpServer
) -> None:
    """A certificate 20 days from expiry and a secret 40 days out: each alerts once at the
    30-day step, once at the 7-day step, and once when expired."""
    clock = Clock()
    now = dt.datetime.fromtimestamp(clock.now, dt.UTC)
    cert = trustme.CA().issue_cert("app", not_after=now + dt.timedelta(days=20, hours=1))
    await set_secret(
        db,
        alerting_link.id,
        CLIENT_CERTIFICATE,
        cert.private_key_and_cert_chain_pem.bytes().decode(),
    )
    secret_day = (now + dt.timedelta(days=40)).date().isoformat()
    link = await update_link_settings(
        db, alerting_link.id, {**alerting_link.settings, "client_secret_expires": secret_day}
    )
    alerts = _alerts(db, smtp_server.url(), clock)

    async def check(days: float) -> list[str]:
        clock.now += days * DAY_S
        before = len(smtp_server.inbox.mails)
        await alerts.check_expiry([link], force=True)
        await alerts.drain()
        return smtp_server.inbox.subjects()[before:]

    assert await check(0) == ["[m365sync] contoso: client certificate expires in 20 day(s)"]
    assert await check(1) == []
    assert await check(10) == ["[m365sync] contoso: client secret expires in 29 day(s)"]
    assert await check(3) == ["[m365sync] contoso: client certificate expires in 6 day(s)"]
    assert await check(2) == []
    assert await check(5) == ["[m365sync] contoso: client certificate has expired"]
    assert await check(13) == ["[m365sync] contoso: client secret expires in 6 day(s)"]
    await alerts.close()
    assert secret_day in smtp_server.inbox.body(-1)


async def test_tls_relay_with_credentials(
    db: Database, alerting_link: Link, tls_server: SmtpServer
) -> None:
    """smtp+starttls:// and smtps:// speak TLS (trusting the configured CA) before AUTH."""
    alerts = _alerts(db, tls_server.url(), ca_bundle=tls_server.ca_path)
    await alerts.setup_required(alerting_link, "invalid_grant")
    await alerts.drain()
    await alerts.close()
    assert tls_server.inbox.subjects() == ["[m365sync] contoso: Setup Required"]
    assert tls_server.inbox.logins == [SMTP_USER]


async def test_untrusted_relay_certificate_is_refused(
    db: Database, alerting_link: Link, tls_server: SmtpServer
) -> None:
    """Without the relay's CA the mail is not sent (and nothing raises into the hook)."""
    alerts = _alerts(db, tls_server.url())
    await alerts.setup_required(alerting_link, "invalid_grant")
    await alerts.drain()
    await alerts.close()
    assert (alerts.sent, alerts.failed) == (0, 1)
    assert tls_server.inbox.mails == []
    assert await list_sent(db, alerting_link.id) == []


async def test_link_without_recipients_sends_nothing(
    db: Database, link: Link, smtp_server: SmtpServer
) -> None:
    """No alert_emails on the link: nothing is queued or sent."""
    alerts = _alerts(db, smtp_server.url())
    await alerts.setup_required(link, "invalid_grant")
    await alerts.drain()
    await alerts.close()
    assert smtp_server.inbox.mails == []
