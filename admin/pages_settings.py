"""The Settings page: the link's policy, validated by the planner, errors next to fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from admin.common import csrf_field, flash, link_for, render
from admin.html import Markup, fmt, join
from admin.keys import principal_of
from edge.inputs import read_form
from store.models import Link
from worker.adminaudit import record_settings_change
from worker.appkeys import DB
from worker.linkadmin import save_settings
from worker.linksettings import validated_settings
from worker.planner import PolicyError

CHECKBOXES = (
    ("auto_create", "Automatic Extension Creation", "new users get an extension without a click"),
    ("disable_on_soft_delete", "Disable when the user is deleted", "restorable for 30 days"),
    ("disable_on_hard_delete", "Disable when the user is permanently deleted", ""),
    ("disable_on_account_disabled", "Disable when sign-in is blocked", "accountEnabled false"),
    (
        "disable_on_out_of_scope",
        "Disable when the user leaves the scope",
        "e.g. removed from group",
    ),
    ("include_guests", "Include guest accounts", ""),
    ("unmatched_without_email", "Disable Unmatched also covers extensions without email", ""),
)
TEXTS = (
    ("ranges", "Number ranges", "e.g. 200-299,400-449"),
    ("reserved", "Reserved numbers", "never handed out, e.g. 200,250-259"),
    ("protected", "Protected numbers", "never disabled"),
    ("phone_region", "Phone region", "two letters, for numbers without +country code"),
    ("cooloff_days", "Cool-off for freed numbers (days)", ""),
    (
        "disable_threshold_count",
        "Disable threshold (extensions)",
        "more within the disable window are held for approval; while any are held, every "
        "further disable is held too",
    ),
    ("disable_threshold_percent", "Disable threshold (percent)", "of all extensions"),
    (
        "disable_window_minutes",
        "Disable window (minutes)",
        "disables of the last minutes count toward the threshold",
    ),
    ("alert_emails", "Alert e-mail addresses", "comma separated"),
    ("sweep_interval_hours", "Sweep interval (hours)", "full comparison; the manual's 12 hours"),
    (
        "poll_interval_s",
        "Poll interval (seconds)",
        "without a public URL: how often the delta is read; 10 or more, default 60",
    ),
    (
        "safety_poll_s",
        "Safety poll (seconds)",
        "with push: a delta read that catches a lost notification; 60 or more, default 900",
    ),
)


async def settings_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    try:
        values: Mapping[str, Any] = validated_settings(link.settings)
    except PolicyError:
        values = link.settings
    return render(request, f"Settings · {link.name}", _form(request, link, values), link=link)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _form(
    request: web.Request,
    link: Link,
    values: Mapping[str, Any],
    errors: dict[str, str] | None = None,
) -> Markup:
    errors = errors or {}

    def error(name: str) -> Markup:
        if name not in errors:
            return Markup("")
        return fmt(
            '<span class="field-error" id="err-{n}" role="alert">{m}</span>', n=name, m=errors[name]
        )

    boxes = join(
        fmt(
            '<div class="check"><input type="checkbox" id="s-{n}" name="{n}" value="true"{c}'
            ' aria-describedby="err-{n}"> <label for="s-{n}">{label}</label>'
            " <small>{hint}</small>{err}</div>",
            n=name,
            c=Markup(" checked") if _truthy(values.get(name)) else "",
            label=label,
            hint=hint,
            err=error(name),
        )
        for name, label, hint in CHECKBOXES
    )
    texts = join(
        fmt(
            '<div class="field"><label for="s-{n}">{label}</label>'
            '<input id="s-{n}" name="{n}" value="{v}" aria-describedby="hint-{n} err-{n}"'
            '{inv}> <small id="hint-{n}">{hint}</small>{err}</div>',
            n=name,
            label=label,
            v=_text(values.get(name)),
            hint=hint,
            inv=Markup(' aria-invalid="true"') if name in errors else "",
            err=error(name),
        )
        for name, label, hint in TEXTS
    )
    return fmt(
        '<form method="post" action="/links/{id}/settings" class="card settings"'
        ' id="settings-form">'
        "{csrf}{other}{boxes}{texts}"
        '<button type="submit" id="settings-save">Save</button></form>',
        id=link.id,
        csrf=csrf_field(request),
        other=error("settings"),
        boxes=boxes,
        texts=texts,
    )


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "on", "1"))


async def settings_submit(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    form = await read_form(request)
    values: dict[str, Any] = dict(link.settings)
    for name, _, _ in CHECKBOXES:
        values[name] = form.get(name) == "true"
    for name, _, _ in TEXTS:
        values[name] = str(form.get(name) or "").strip()
    try:
        saved = await save_settings(request.config_dict[DB], link.id, values)
    except PolicyError as exc:
        field = exc.field if exc.field in {n for n, *_ in (*CHECKBOXES, *TEXTS)} else "settings"
        body = _form(request, link, values, {field: exc.message})
        return render(request, f"Settings · {link.name}", body, link=link, status=422)
    actor = f"admin:{principal_of(request).username}"
    await record_settings_change(request.config_dict[DB], link, saved, actor=actor, via="Settings")
    flash(request, "ok", "Settings saved.")
    raise web.HTTPSeeOther(f"/links/{link.id}/settings")
