"""The link page's "Check" button: the doctor's checks as a list, ✓ or ✗, each failure with
its fix. It only reads (worker.doctor) and changes nothing, not even the link's state."""

from __future__ import annotations

import ssl

from aiohttp import web

from admin.common import csrf_field, link_for, render
from admin.html import Markup, fmt, join
from store.models import Link, LinkState
from worker.appkeys import DB, SETTINGS
from worker.doctor import Check, run_doctor

# The public URL's trust store. Unset in production (the system store); a test sets it in
# code to a context that trusts its CA. Deliberately not an environment variable.
DOCTOR_TRUST = web.AppKey("doctor_public_trust", ssl.SSLContext)


async def doctor_submit(request: web.Request) -> web.Response:
    link = await link_for(request)
    config = request.config_dict
    report = await run_doctor(
        config[DB], link, config[SETTINGS], public_trust=config.get(DOCTOR_TRUST)
    )
    summary = (
        Markup('<p class="badge ok big" role="status">Every check passed</p>')
        if report.ok
        else fmt(
            '<p class="badge bad big" role="status">{n} of {total} checks failed</p>',
            n=len(report.failures),
            total=len(report.checks),
        )
    )
    body = fmt(
        '<section class="card" aria-labelledby="doctor-title">'
        '<h2 id="doctor-title">Check: {name}</h2>{summary}'
        '<ul class="doctor" id="doctor-results">{items}</ul>{activate}'
        '<p><a class="button" href="/links/{id}">Back to the link</a></p></section>',
        name=link.name,
        summary=summary,
        items=join(_item(check) for check in report.checks),
        activate=_activate_form(request, link) if link.state is LinkState.SETUP_REQUIRED else "",
        id=link.id,
    )
    return render(request, f"{link.name}: check", body, link=link)


def _activate_form(request: web.Request, link: Link) -> Markup:
    """Once the causes are fixed, this resumes the link (the one step that writes: its state)."""
    return fmt(
        '<form method="post" action="/links/{id}/check">{csrf}'
        "<p>When the failures above are fixed, resume the link: "
        '<button type="submit" id="activate">Activate</button></p></form>',
        id=link.id,
        csrf=csrf_field(request),
    )


def _item(check: Check) -> Markup:
    if check.ok:
        return fmt(
            '<li class="ok" data-check="{id}"><span aria-label="passed">✓</span> {title}'
            " <small>{detail}</small></li>",
            id=check.id,
            title=check.title,
            detail=check.detail,
        )
    return fmt(
        '<li class="bad" data-check="{id}"><span aria-label="failed">✗</span> {title}'
        ' <small>{detail}</small><br><span class="fix">Fix: {fix}</span></li>',
        id=check.id,
        title=check.title,
        detail=check.detail,
        fix=check.fix,
    )
