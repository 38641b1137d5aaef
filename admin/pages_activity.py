"""The Activity page and its CSV: the audit trail with the user's name and email, field
codes as words, Action and Outcome as selects, and keyset paging (newest first, `before`
= the last id shown) that stays fast however long the trail grows."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from admin.activitywords import (
    ACTION_WORDS,
    OUTCOME_WORDS,
    action_word,
    actor_words,
    outcome_word,
    reason_words,
)
from admin.common import link_for, render
from admin.html import Markup, esc, fmt, join, options, page
from admin.wording import FIELD_WORDS, field_word
from edge.inputs import whole_number
from store.directory import directory_ids_matching, get_directory_users
from store.models import AuditEntry, DirectoryUser
from store.records import list_audit
from worker.appkeys import DB

AUDIT_PAGE = 200
CSV_MAX_ROWS = 100_000
_EMAIL_FIELD = "email_address"
_DAYS = (("", "Any time"), ("1", "Last day"), ("7", "Last 7 days"), ("30", "Last 30 days"))


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str


async def _filters(request: web.Request, link_id: int) -> dict[str, Any]:
    q = request.query
    days = whole_number(q.get("days", ""), max_digits=6)
    text = (q.get("q") or "").strip()[:200]
    # A name is not in the audit rows (only the user id is): search it in the directory.
    ids = await directory_ids_matching(request.config_dict[DB], link_id, text) if text else []
    return {
        "action": (q.get("action") or "")[:100] or None,
        "outcome": (q.get("outcome") or "")[:100] or None,
        "text": text or None,
        "text_user_ids": ids,
        "since": time.time() - days * 86400 if days is not None else None,
    }


async def _people(
    request: web.Request, link_id: int, entries: Sequence[AuditEntry]
) -> dict[str, Person]:
    ids = sorted({e.user_id for e in entries if e.user_id})
    users = await get_directory_users(request.config_dict[DB], link_id, ids) if ids else {}
    return {uid: _person(u) for uid, u in users.items()}


def _person(user: DirectoryUser) -> Person:
    name = user.display_name or " ".join(p for p in (user.given_name, user.surname) if p)
    return Person(name or "", user.mail or user.user_principal_name or "")


def _who(e: AuditEntry, people: Mapping[str, Person]) -> Person:
    """The user as we last saw them; the row's own email where the user is unknown."""
    known = people.get(e.user_id or "")
    recorded = str(e.after.get(_EMAIL_FIELD) or e.before.get(_EMAIL_FIELD) or "")
    if known is None:
        return Person("", recorded)
    return Person(known.name, known.email or recorded)


def changes(e: AuditEntry) -> list[str]:
    """ "Last name: Wu → Wu-Li" per field; a field that only has a new value (a create)
    reads "Last name: Wu", without an empty old side."""
    lines = []
    # A create has nothing before it: the applier records every old value as "".
    fresh = e.action == "create"
    for code in sorted(set(e.before) | set(e.after), key=_field_order):
        word = field_word(code)
        if code not in e.before or (fresh and code in e.after):
            lines.append(f"{word}: {_value(e.after[code])}")
        elif code not in e.after:
            lines.append(f"{word}: {_value(e.before[code])} → (none)")
        else:
            lines.append(f"{word}: {_value(e.before[code])} → {_value(e.after[code])}")
    return lines


_ORDER = {code: n for n, code in enumerate(FIELD_WORDS)}


def _field_order(code: str) -> tuple[int, str]:
    """First name, Last name, Email, Cell phone, then the settings, as the form shows them."""
    return _ORDER.get(code, len(_ORDER)), code


def _value(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)


def _short_time(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s))


def _choices(words: Mapping[str, str], selected: str) -> list[tuple[str, str]]:
    choices = [("", "All"), *sorted(words.items(), key=lambda kv: kv[1])]
    if selected and selected not in words:
        choices.append((selected, selected))
    return choices


def _query(request: web.Request, **changes: str | None) -> str:
    keep = {k: v for k, v in request.query.items() if k in ("action", "outcome", "q", "days")}
    for key, value in changes.items():
        if value is None:
            keep.pop(key, None)
        else:
            keep[key] = value
    return urlencode({k: v for k, v in keep.items() if v})


async def activity_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    q = request.query
    before = whole_number(q.get("before", ""), max_digits=18)
    entries = await list_audit(
        request.config_dict[DB],
        link.id,
        limit=AUDIT_PAGE + 1,
        before_id=before,
        **await _filters(request, link.id),
    )
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    people = await _people(request, link.id, entries)
    rows = join(_row(e, people) for e in entries)
    body = page(
        "activity.html",
        action_options=options(_choices(ACTION_WORDS, q.get("action", "")), q.get("action", "")),
        outcome_options=options(
            _choices(OUTCOME_WORDS, q.get("outcome", "")), q.get("outcome", "")
        ),
        day_options=options(_day_choices(q.get("days", "")), q.get("days", "")),
        text=q.get("q", ""),
        link_id=link.id,
        qs=_query(request),
        pager=_pager(request, link.id, entries, before, more),
        rows=rows or Markup('<tr><td colspan="9">Nothing recorded for these filters.</td></tr>'),
    )
    return render(request, f"Activity · {link.name}", body, link=link)


def _day_choices(selected: str) -> list[tuple[str, str]]:
    known = [v for v, _ in _DAYS]
    return [*_DAYS, (selected, f"Last {selected} days")] if selected not in known else list(_DAYS)


def _pager(
    request: web.Request,
    link_id: int,
    entries: Sequence[AuditEntry],
    before: int | None,
    more: bool,
) -> Markup:
    base = f"/links/{link_id}/activity"
    parts: list[Markup] = []
    if before is not None:
        parts.append(
            fmt(
                '<a href="{h}" id="activity-newest">Newest entries</a>',
                h=f"{base}?{_query(request, before=None)}",
            )
        )
    if more and entries:
        older = _query(request, before=str(entries[-1].id))
        parts.append(
            fmt(
                '<a href="{h}" id="activity-older" rel="next">Older entries</a>',
                h=f"{base}?{older}",
            )
        )
    shown = fmt(
        '<span id="activity-count">{n} entries{w}, newest first</span>',
        n=len(entries),
        w=" (more below)" if more else "",
    )
    return fmt(
        '<nav class="pager" aria-label="Activity pages">{s} {p}</nav>', s=shown, p=join(parts, " ")
    )


def _row(e: AuditEntry, people: Mapping[str, Person]) -> Markup:
    who = _who(e, people)
    return page(
        "activity_row.html",
        iso=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e.at)),
        at=_short_time(e.at),
        action=action_word(e.action),
        outcome=outcome_word(e.outcome),
        failed=" failed" if e.outcome == "failed" else "",
        number=e.number or "",
        name=who.name,
        email=_breakable(who.email),
        changes=join((_breakable(c) for c in changes(e)), Markup("<br>")),
        reason=_breakable(reason_words(e.reason)),
        by=_breakable(actor_words(e.actor, e.trigger)),
    )


_BREAK_AFTER = re.compile(r"(@(?=\S))")


def _breakable(text: str) -> Markup:
    """Escaped, with a line-break chance after "@": an email breaks as "ann.lee@" /
    "contoso.example" in a narrow column, not at an arbitrary letter."""
    return Markup(_BREAK_AFTER.sub(r"\1<wbr>", str(esc(text))))


CSV_HEADER = (
    "at",
    "action",
    "outcome",
    "number",
    "user_name",
    "user_email",
    "changes",
    "reason",
    "by",
    "actor",
    "trigger",
    "user_id",
    "before",
    "after",
)


def _compact(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), ensure_ascii=False, sort_keys=True) if values else ""


def csv_rows(entries: Iterable[AuditEntry], people: Mapping[str, Person]) -> Iterable[list[str]]:
    for e in entries:
        who = _who(e, people)
        yield [
            _short_time(e.at) + " UTC",
            action_word(e.action),
            outcome_word(e.outcome),
            e.number or "",
            who.name,
            who.email,
            "; ".join(changes(e)),
            reason_words(e.reason),
            actor_words(e.actor, e.trigger),
            e.actor,
            e.trigger,
            e.user_id or "",
            _compact(e.before),
            _compact(e.after),
        ]


async def activity_csv(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    entries = await list_audit(
        request.config_dict[DB], link.id, limit=CSV_MAX_ROWS, **await _filters(request, link.id)
    )
    people = await _people(request, link.id, entries)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for cells in csv_rows(entries, people):
        writer.writerow([_csv_safe(c) for c in cells])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="activity-link-{link.id}.csv"'},
    )


def _csv_safe(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; directory data must not."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
