"""The Settings page: the link's policy, validated by the planner, errors next to fields."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog
from aiohttp import web

from admin.common import csrf_field, flash, link_clients, link_for, render
from admin.html import Markup, fmt, join
from edge.inputs import read_form
from store.models import Link
from worker.appkeys import DB
from worker.errors import SyncError
from worker.linkadmin import save_settings
from worker.linksettings import validated_settings
from worker.planner import PolicyError

log = structlog.get_logger(__name__)

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
        "ms_signin",
        "Sign in with Microsoft on the PBX",
        "keep, on or off: the PBX tenant's mssign setting",
    ),
)
RULES_HINT = (
    'JSON list, first match wins: [{"name": "Support", "group_id": "...", "ranges": "400-449",'
    ' "template": {"dial_plan": "intl"}, "hunt_group": "810"}]; everyone else: the ranges above'
)


async def settings_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    try:
        values: Mapping[str, Any] = validated_settings(link.settings)
    except PolicyError:
        values = link.settings
    names = await group_names(request, link, values.get("group_rules"))
    body = _form(request, link, values, names=names)
    return render(request, f"Settings · {link.name}", body, link=link)


async def group_names(request: web.Request, link: Link, rules: Any) -> dict[str, str]:
    """The Entra display names of the rules' groups, from Graph; {} when unreadable (the
    page then shows the ids only)."""
    found = [r.get("group_id") for r in rules or () if isinstance(r, Mapping)]
    ids: list[str] = [i for i in dict.fromkeys(found) if isinstance(i, str) and i]
    if not ids:
        return {}
    names: dict[str, str] = {}
    try:
        async with link_clients(request, link) as clients:
            for group_id in ids:
                names[group_id] = await clients.graph.group_display_name(group_id)
    except SyncError as exc:
        log.info("settings.group_names_unreadable", link=link.name, error=str(exc))
    return names


def _rules_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value or [], indent=1, ensure_ascii=False) if value else ""


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _form(
    request: web.Request,
    link: Link,
    values: Mapping[str, Any],
    errors: dict[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> Markup:
    errors = errors or {}
    names = names or {}

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
    rules = values.get("group_rules")
    shown = join(
        fmt(
            "<li>{rule}: group {name} <code>{gid}</code>, {where}</li>",
            rule=r.get("name", ""),
            name=repr(names[r.get("group_id", "")]) if names.get(r.get("group_id", "")) else "",
            gid=r.get("group_id", ""),
            where=f"numbers {r.get('ranges') or 'of the link'}"
            + (f", hunt group {r['hunt_group']}" if r.get("hunt_group") else ""),
        )
        for r in (rules if isinstance(rules, list) else [])
        if isinstance(r, Mapping)
    )
    area = fmt(
        '<div class="field"><label for="s-group_rules">Group rules</label>'
        '<textarea id="s-group_rules" name="group_rules" rows="6" cols="80"'
        ' aria-describedby="hint-group_rules err-group_rules"{inv}>{v}</textarea>'
        ' <small id="hint-group_rules">{hint}</small>{err}<ul id="group-rules">{shown}</ul></div>',
        v=_rules_text(rules),
        hint=RULES_HINT,
        inv=Markup(' aria-invalid="true"') if "group_rules" in errors else "",
        err=error("group_rules"),
        shown=shown,
    )
    return fmt(
        '<form method="post" action="/links/{id}/settings" class="card settings"'
        ' id="settings-form">'
        "{csrf}{other}{boxes}{texts}{area}"
        '<button type="submit" id="settings-save">Save</button></form>',
        id=link.id,
        csrf=csrf_field(request),
        other=error("settings"),
        boxes=boxes,
        texts=texts,
        area=area,
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
    values["group_rules"] = str(form.get("group_rules") or "").strip()
    try:
        await save_settings(request.config_dict[DB], link.id, values)
    except PolicyError as exc:
        known = {"group_rules"} | {n for n, *_ in (*CHECKBOXES, *TEXTS)}
        field = exc.field if exc.field in known else "settings"
        body = _form(request, link, values, {field: exc.message})
        return render(request, f"Settings · {link.name}", body, link=link, status=422)
    flash(request, "ok", "Settings saved.")
    raise web.HTTPSeeOther(f"/links/{link.id}/settings")
