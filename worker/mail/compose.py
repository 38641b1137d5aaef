"""The text of each alert. Pure functions: a `Notice` says what to send, to whom, and
under which de-duplication key; nothing here does I/O."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from store.models import Event, Link
from worker.planner import Action, why_held

HOUR_S = 3600.0
DAY_S = 24 * HOUR_S
MAX_LISTED = 50  # a digest lists this many items, then says how many more
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


@dataclass(frozen=True, slots=True)
class Notice:
    """One alert to send. The same (link, kind, key) is not sent twice within `quiet_s`."""

    link_id: int
    link_name: str
    kind: str
    key: str
    subject: str
    body: str
    recipients: tuple[str, ...]
    quiet_s: float


def recipients(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """`alert_emails` from the link settings: a list or a comma/semicolon separated text.
    Read leniently here: an alert about broken settings must still reach someone."""
    raw = settings.get("alert_emails") or ()
    items = re.split(r"[,;]", raw) if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        return ()
    found = (str(item).strip() for item in items)
    return tuple(dict.fromkeys(e for e in found if _EMAIL.match(e)))


def digest_key(parts: Iterable[str]) -> str:
    """A stable key for a set of items: the same set gives the same key, in any order."""
    joined = "\n".join(sorted(parts))
    return hashlib.sha256(joined.encode()).hexdigest()[:24]


class Composer:
    """Builds notices for one daemon: knows the quiet period and where the admin page is."""

    def __init__(self, *, quiet_s: float, public_url: str | None) -> None:
        self.quiet_s = quiet_s
        self.public_url = public_url

    def conflicts(self, link: Link, conflicts: Sequence[Action]) -> Notice:
        lines = [_conflict_line(a) for a in conflicts]
        body = [
            f"The last round for link {link.name!r} found {len(conflicts)} conflict(s).",
            "Nothing was written to the PBX for these users until the conflict is resolved.",
            "",
            *_capped(lines),
            "",
            self._where(link, "resync --dry-run"),
        ]
        return self._notice(
            link,
            "conflicts",
            digest_key(f"{a.conflict}|{a.user_id}|{a.number}|{a.email}" for a in conflicts),
            f"{len(conflicts)} conflict(s) found",
            body,
        )

    def setup_required(self, link: Link, reason: str) -> Notice:
        body = [
            f"Link {link.name!r} is in Setup Required and has stopped syncing.",
            f"Reason: {reason}",
            "",
            "Changes keep queueing and nothing is lost. Sign in to the admin page and run",
            '"OAuth Token" (delegated) or check the client secret/certificate (application)',
            "to resume.",
            "",
            self._where(link, "status"),
        ]
        return self._notice(link, "setup_required", "", "Setup Required", body)

    def disables_held(
        self,
        link: Link,
        held: Sequence[Action],
        limit: int | None,
        *,
        waiting: int = 0,
        list_id: int = 0,
    ) -> Notice:
        lines = [_held_line(a) for a in held]
        limit_text = f"the limit of {limit}" if limit is not None else "the link's limit"
        why = why_held(held[0]) if held else ""
        body = [
            f"{len(held)} disable(s) of link {link.name!r} are held for approval and were not "
            f"disabled ({limit_text}).",
            *([f"Why: {why}."] if why else []),
            *(
                [
                    f"{waiting} disable(s) now wait for approval in all; until they are approved "
                    "or rejected, every further disable of this link waits too."
                ]
                if waiting > len(held)
                else []
            ),
            "",
            *_capped(lines),
            "",
            "Approve them on the admin page or with `m365sync approve "
            f"{link.name}` if the directory change is intended.",
            self._where(link, "approve"),
        ]
        # One key per held list (its oldest entry), so rounds that add to a list waiting for
        # approval do not mail again within the quiet period.
        key = f"list-{list_id}" if list_id else digest_key(f"{a.number}|{a.user_id}" for a in held)
        return self._notice(link, "disables_held", key, f"{len(held)} disable(s) held", body)

    def actions_failed(self, link: Link, failed: Sequence[tuple[Action, str]]) -> Notice:
        lines = [_failed_line(action, reason) for action, reason in failed]
        body = [
            f"{len(failed)} PBX write(s) of link {link.name!r} failed. The users concerned "
            "have not got what the directory asks for (a create leaves them without an "
            "extension).",
            "",
            *_capped(lines),
            "",
            "They count as failed events until a later write for the same user succeeds;",
            f"`m365sync retry-failed {link.name}` plans them again.",
            self._where(link, "status"),
        ]
        key = digest_key(f"{a.kind.value}|{a.user_id}|{a.number}|{why}" for a, why in failed)
        return self._notice(link, "actions_failed", key, f"{len(failed)} PBX write(s) failed", body)

    def events_failed(self, link: Link, events: Sequence[Event], error: str) -> Notice:
        kinds = sorted({e.kind for e in events})
        body = [
            f"{len(events)} event(s) of link {link.name!r} failed after all retries "
            f"({', '.join(kinds)}). They are kept and can be retried.",
            f"Last error: {error}",
            "",
            self._where(link, "status"),
        ]
        return self._notice(link, "events_failed", "", f"{len(events)} event(s) failed", body)

    def subscription_failed(self, link: Link, error: str) -> Notice:
        body = [
            f"The change-notification subscription of link {link.name!r} could not be created "
            "or renewed. Changes are still picked up by the periodic sweep, but later.",
            f"Error: {error}",
            "",
            "Check that M365SYNC_PUBLIC_URL is reachable from the internet over HTTPS.",
            self._where(link, "status"),
        ]
        return self._notice(link, "subscription_failed", "", "subscription not renewed", body)

    def expiring(
        self, link: Link, what: str, expires_on: date, days_left: int, step: int
    ) -> Notice:
        when = f"expires in {days_left} day(s)"
        if days_left <= 0:
            when = "has expired" if days_left < 0 else "expires today"
        body = [
            f"The {what} of link {link.name!r} {when} ({expires_on.isoformat()}).",
            "Create a new one in the Entra admin center (App registrations > your app >",
            "Certificates & secrets), store it with `m365sync link set` or on the admin page,",
            "and update the expiry date entered with the link.",
            "",
            self._where(link, "status"),
        ]
        key = f"{what}|{step}|{expires_on.isoformat()}"
        # Sent once per step (30 days, 7 days) for a given expiry date.
        notice = self._notice(link, "expiring", key, f"{what} {when}", body)
        return replace(notice, quiet_s=400 * DAY_S)

    def _notice(self, link: Link, kind: str, key: str, subject: str, body: list[str]) -> Notice:
        return Notice(
            link_id=link.id,
            link_name=link.name,
            kind=kind,
            key=key,
            subject=f"[m365sync] {link.name}: {subject}",
            body="\n".join(body).rstrip() + "\n",
            recipients=recipients(link.settings),
            quiet_s=self.quiet_s,
        )

    def _where(self, link: Link, command: str) -> str:
        page = f" ({self.public_url}/)" if self.public_url else ""
        return f"Details: the admin page{page} or `m365sync {command.split()[0]} {link.name}`."


def _conflict_line(action: Action) -> str:
    kind = action.conflict.value.replace("_", " ") if action.conflict else "conflict"
    who = action.email or action.user_id or "?"
    number = f" extension {action.number}" if action.number else ""
    suggested = f" (next free: {action.suggested_number})" if action.suggested_number else ""
    message = f": {action.message}" if action.message else ""
    return f"- {kind} conflict: {who}{number}{message}{suggested}"


def _failed_line(action: Action, reason: str) -> str:
    who = action.email or action.user_id or "?"
    return f"- {action.kind.value} extension {action.number or '?'} ({who}): {reason}"


def _held_line(action: Action) -> str:
    who = action.email or action.user_id or "?"
    return f"- disable extension {action.number or '?'} ({who}): {action.reason.value}"


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more"]
