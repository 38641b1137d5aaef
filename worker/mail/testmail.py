"""The Overview's "Send test e-mail": one message to the link's alert addresses, sent now
(not queued like alerts) so the admin sees at once whether the mail server takes it."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import structlog

from store.models import Link
from worker.mail.compose import recipients
from worker.mail.sender import default_sender
from worker.mail.smtp import SmtpTarget, send_mail
from worker.settings import Settings

log = structlog.get_logger(__name__)

SUBJECT = "Test alert from Microsoft 365 User Directory Sync"


@dataclass(frozen=True, slots=True)
class TestMailResult:
    ok: bool
    text: str


async def send_test_mail(
    settings: Settings, link: Link, *, timeout_s: float = 10.0
) -> TestMailResult:
    if settings.smtp_url is None:
        return TestMailResult(
            False, "No mail server is set: start the daemon with M365SYNC_SMTP_URL."
        )
    to = recipients(link.settings)
    if not to:
        return TestMailResult(False, "No alert e-mail addresses: add them in Settings, Alerts.")
    target = SmtpTarget.from_url(settings.smtp_url, ca_bundle=settings.ca_bundle)
    sender = settings.alert_from or default_sender()
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = f"{SUBJECT} ({link.name})"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"This is a test of the alert e-mails of the link {link.name}.\n"
        "Alerts arrive here for conflicts, held disables, Setup Required and failures.\n"
    )
    try:
        await send_mail(target, message, timeout_s=timeout_s)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        # The exception's text names the host and the server's answer, never the password.
        log.warning(
            "alert.test_failed", link=link.name, smtp=target.shown, error=type(exc).__name__
        )
        return TestMailResult(False, f"The mail server {target.shown} refused: {exc}")
    log.info("alert.test_sent", link=link.name, smtp=target.shown, recipients=len(to))
    return TestMailResult(True, f"Test e-mail sent to {', '.join(to)} through {target.shown}.")
