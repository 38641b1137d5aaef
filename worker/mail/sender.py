"""`EmailAlerts`: the engine's alert hooks, delivered by e-mail.

A hook only composes a notice and queues it; one background task sends, so a slow or
dead mail server never holds up a round. What was sent is recorded in the store, and
the same alert is not sent again within its quiet period (across restarts too).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Sequence
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import structlog

from store import Database
from store.alerts import SentAlert, last_sent_at, record_sent
from store.links import get_secret
from store.models import Event, Link
from worker.alerts import Alerts
from worker.linkctx import CLIENT_CERTIFICATE, CLIENT_SECRET, PBX_PASSWORD
from worker.logs import redact
from worker.mail.compose import HOUR_S, Composer, Notice
from worker.mail.expiry import certificate_expiry, due_step, secret_expiry, today_utc
from worker.mail.smtp import SmtpTarget, send_mail
from worker.planner import Action, Plan

log = structlog.get_logger("m365sync.alerts")

REDACTED = "[redacted]"
_MIN_SECRET_CHARS = 4  # shorter values would blank out ordinary words


class EmailAlerts(Alerts):
    def __init__(
        self,
        db: Database,
        target: SmtpTarget,
        sender: str,
        *,
        public_url: str | None = None,
        quiet_period_s: float = 24 * HOUR_S,
        timeout_s: float = 10.0,
        queue_size: int = 200,
        expiry_check_every_s: float = HOUR_S,
        close_grace_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.target = target
        self.sender = sender
        self.compose = Composer(quiet_s=quiet_period_s, public_url=public_url)
        self.timeout_s = timeout_s
        self.expiry_check_every_s = expiry_check_every_s
        self.close_grace_s = close_grace_s
        self.clock = clock
        self.sent = 0
        self.failed = 0
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._busy = False
        self._next_expiry_check = 0.0

    # -- the engine's hooks: compose and queue, never wait for the mail server ----------

    async def conflicts_found(self, link: Link, plan: Plan, conflicts: Sequence[Action]) -> None:
        self.submit(self.compose.conflicts(link, conflicts))

    async def setup_required(self, link: Link, reason: str) -> None:
        self.submit(self.compose.setup_required(link, reason))

    async def disables_held(
        self,
        link: Link,
        held: Sequence[Action],
        limit: int | None,
        *,
        waiting: int = 0,
        list_id: int = 0,
    ) -> None:
        self.submit(self.compose.disables_held(link, held, limit, waiting=waiting, list_id=list_id))

    async def actions_failed(self, link: Link, failed: Sequence[tuple[Action, str]]) -> None:
        self.submit(self.compose.actions_failed(link, failed))

    async def events_failed(self, link: Link, events: Sequence[Event], error: str) -> None:
        self.submit(self.compose.events_failed(link, events, error))

    async def subscription_failed(self, link: Link, error: str) -> None:
        self.submit(self.compose.subscription_failed(link, error))

    async def check_expiry(self, links: Sequence[Link], *, force: bool = False) -> None:
        """Queue alerts for certificates and secrets expiring within 30 or 7 days.
        Cheap to call often: it looks at most once per `expiry_check_every_s`."""
        now = self.clock()
        if not force and now < self._next_expiry_check:
            return
        self._next_expiry_check = now + self.expiry_check_every_s
        today = today_utc(now)
        for link in links:
            try:
                for notice in await self._expiry_notices(link, today):
                    self.submit(notice)
            except Exception:
                log.exception("alert.expiry_check_failed", link=link.name)

    @property
    def pending(self) -> int:
        """Alerts queued or being sent."""
        return self._queue.qsize() + (1 if self._busy else 0)

    def submit(self, notice: Notice) -> None:
        if self._closed:
            return
        if not notice.recipients:
            log.info("alert.no_recipients", alert=notice.kind)
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="email-alerts")
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            log.warning("alert.dropped", alert=notice.kind, link=notice.link_name)

    async def drain(self) -> None:
        """Wait until every queued alert was sent, skipped or given up on (tests use this)."""
        await self._queue.join()

    async def close(self) -> None:
        self._closed = True
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), self.close_grace_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        abandoned = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            abandoned += 1
        if abandoned:
            log.warning("alert.unsent_at_shutdown", alerts=abandoned, smtp=self.target.shown)

    # -- the background sender ----------------------------------------------------------

    async def _run(self) -> None:
        while True:
            notice = await self._queue.get()
            self._busy = True
            try:
                await self._deliver(notice)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed += 1
                log.warning(
                    "alert.mail_failed",
                    alert=notice.kind,
                    link=notice.link_name,
                    smtp=self.target.shown,
                    error=f"{type(exc).__name__}: {exc}",
                )
            finally:
                self._busy = False
                self._queue.task_done()

    async def _deliver(self, notice: Notice) -> None:
        last = await last_sent_at(self.db, notice.link_id, notice.kind, notice.key)
        now = self.clock()
        if last is not None and now - last < notice.quiet_s:
            log.debug("alert.suppressed", alert=notice.kind)
            return
        message = await self._message(notice)
        # aiosmtplib's timeout is per step; this bounds the whole exchange.
        async with asyncio.timeout(self.timeout_s * 3):
            await send_mail(self.target, message, timeout_s=self.timeout_s)
        self.sent += 1
        await record_sent(
            self.db,
            SentAlert(
                notice.link_id,
                notice.kind,
                notice.key,
                notice.subject,
                len(notice.recipients),
                now,
            ),
        )
        log.info("alert.mailed", alert=notice.kind, link=notice.link_name)

    async def _message(self, notice: Notice) -> EmailMessage:
        secrets = await self._secret_values(notice.link_id)
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(notice.recipients)
        message["Subject"] = scrub(notice.subject, secrets)
        message["Date"] = formatdate(self.clock(), localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(scrub(notice.body, secrets))
        return message

    async def _secret_values(self, link_id: int) -> list[str]:
        values = [self.target.password or ""]
        for name in (CLIENT_SECRET, CLIENT_CERTIFICATE, PBX_PASSWORD):
            values.append(await get_secret(self.db, link_id, name) or "")
        return [v for v in values if len(v) >= _MIN_SECRET_CHARS]

    async def _expiry_notices(self, link: Link, today: date) -> list[Notice]:
        found = [secret_expiry(link.settings)]
        pem = await get_secret(self.db, link.id, CLIENT_CERTIFICATE)
        if pem is not None:
            found.append(certificate_expiry(pem))
        notices = []
        for expiry in (e for e in found if e is not None):
            due = due_step(expiry, today)
            if due is not None:
                step, days_left = due
                notices.append(
                    self.compose.expiring(link, expiry.what, expiry.expires_on, days_left, step)
                )
        return notices


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Mask the link's stored secret values and anything that looks like a credential."""
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, REDACTED)
        for line in value.splitlines():  # a PEM quoted line by line
            if len(line.strip()) >= 16:
                text = text.replace(line.strip(), REDACTED)
    cleaned: str = redact(text)
    return cleaned


def default_sender() -> str:
    return f"m365sync@{socket.getfqdn() or 'localhost'}"
