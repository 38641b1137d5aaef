"""The Settings page: the link's policy, validated by the planner, errors next to fields."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from admin.common import csrf_field, flash, link_for, render
from admin.groups import group_names
from admin.html import Markup, fmt, join
from admin.keys import principal_of
from admin.scopepicker import MAX_GROUPS, scope_fieldset
from edge.inputs import read_form
from store.models import Link
from worker.adminaudit import record_settings_change
from worker.appkeys import DB
from worker.linkadmin import save_settings
from worker.linksettings import validated_settings
from worker.planner import PolicyError
from worker.polling import (
    POLL_INTERVAL_DEFAULT_S,
    POLL_INTERVAL_KEY,
    SAFETY_POLL_DEFAULT_S,
    SAFETY_POLL_KEY,
)

# (name, kind, label, hint): kind "check" is a checkbox, "text" a text field. The hints say
# what each does in plain words; no Vodia or Graph field names.
Field = tuple[str, str, str, str]
GROUPS: tuple[tuple[str, str, tuple[Field, ...]], ...] = (
    (
        "numbering",
        "Numbering",
        (
            (
                "auto_create",
                "check",
                "Automatic Extension Creation",
                "every new Microsoft 365 user gets an extension without a click",
            ),
            (
                "ranges",
                "text",
                "Number ranges",
                "new extensions get numbers from here, e.g. 200-299,400-449",
            ),
            ("reserved", "text", "Reserved numbers", "never handed out, e.g. 200,250-259"),
            (
                "cooloff_days",
                "text",
                "Wait before reusing a number (days)",
                "a freed number is not given to someone else sooner",
            ),
            (
                "phone_region",
                "text",
                "Phone region",
                "two letters such as US or DE, for phone numbers written without +country code",
            ),
        ),
    ),
    (
        "leavers",
        "Leavers",
        (
            (
                "disable_on_soft_delete",
                "check",
                "Disable when the user is deleted",
                "the user can still be restored in Microsoft 365 for 30 days",
            ),
            ("disable_on_hard_delete", "check", "Disable when the user is permanently deleted", ""),
            (
                "disable_on_account_disabled",
                "check",
                "Disable when sign-in is blocked",
                "the account is blocked from signing in to Microsoft 365",
            ),
            (
                "disable_on_out_of_scope",
                "check",
                "Disable when the user leaves the scope",
                "for example, removed from the chosen groups",
            ),
            (
                "unmatched_without_email",
                "check",
                "Disable Unmatched also covers extensions without email",
                "",
            ),
            ("protected", "text", "Protected numbers", "never disabled, e.g. the reception"),
        ),
    ),
    (
        "safety",
        "Safety",
        (
            (
                "disable_threshold_count",
                "text",
                "Disable threshold (extensions)",
                "more disables than this within the time below wait for your approval on the"
                " Overview; while any wait, every further disable waits too",
            ),
            (
                "disable_threshold_percent",
                "text",
                "Disable threshold (percent)",
                "or this share of all extensions, whichever is larger",
            ),
            (
                "disable_window_minutes",
                "text",
                "Counted over (minutes)",
                "disables of this many past minutes count toward the threshold",
            ),
        ),
    ),
    (
        "timing",
        "How often",
        (
            (
                "sweep_interval_hours",
                "text",
                "Full comparison every (hours)",
                "all users are compared with the PBX this often; the Vodia manual says 12",
            ),
            (
                "poll_interval_s",
                "text",
                "Ask for changes every (seconds)",
                "without a public URL: how often Microsoft 365 is asked for changes;"
                " 10 or more, default 60",
            ),
            (
                "safety_poll_s",
                "text",
                "Safety check every (seconds)",
                "with notifications: a check that catches a lost one; 60 or more, default 900",
            ),
        ),
    ),
    (
        "alerts",
        "Alerts",
        (
            (
                "alert_emails",
                "text",
                "Alert e-mail addresses",
                "comma separated; they get conflicts, held disables and failures",
            ),
        ),
    ),
    (
        "pbx",
        "PBX sign-in",
        (
            (
                "ms_signin",
                "choice",
                "Sign in with Microsoft on the PBX",
                "lets users log in to their extension's portal with their Microsoft 365"
                " account (the PBX tenant setting)",
            ),
        ),
    ),
)
RULES_HINT = (
    'JSON list, first match wins: [{"name": "Support", "group_id": "...", "ranges": "400-449",'
    ' "template": {"dial_plan": "intl"}, "hunt_group": "810"}]; everyone else: the ranges above'
)
FIELDS = tuple(f for _, _, fields in GROUPS for f in fields)
CHECKBOXES = tuple((n, label, hint) for n, kind, label, hint in FIELDS if kind == "check")
TEXTS = tuple((n, label, hint) for n, kind, label, hint in FIELDS if kind in ("text", "choice"))
# The options of the "choice" fields, as (value, words).
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "ms_signin": (
        ("keep", "Leave as set on the PBX"),
        ("on", "On"),
        ("off", "Off"),
    ),
}
# What an unset field means, shown in it (the policy's defaults for settings stored only
# once an admin changes them).
SHOWN_DEFAULTS = {
    POLL_INTERVAL_KEY: str(POLL_INTERVAL_DEFAULT_S),
    SAFETY_POLL_KEY: str(SAFETY_POLL_DEFAULT_S),
}
SCOPE_FIELDS = ("scope", "group_ids", "include_guests")


async def settings_page(request: web.Request) -> web.Response:
    link = await link_for(request)
    try:
        values: Mapping[str, Any] = validated_settings(link.settings)
    except PolicyError:
        values = link.settings
    names, problem = await group_names(request, link, _all_group_ids(values))
    body = _form(request, link, values, group_names=names, group_problem=problem)
    return render(request, f"Settings · {link.name}", body, link=link, topic="settings")


def _all_group_ids(values: Mapping[str, Any]) -> tuple[str, ...]:
    """The scope's groups and the group rules' groups, each once."""
    rules = values.get("group_rules")
    found = (
        [r.get("group_id") for r in rules if isinstance(r, Mapping)]
        if isinstance(rules, list)
        else []
    )
    ids = [*_ids(values.get("group_ids")), *(i for i in found if isinstance(i, str) and i)]
    return tuple(dict.fromkeys(ids))[: 2 * MAX_GROUPS]


def _rules_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value or [], indent=1, ensure_ascii=False) if value else ""


def _rules_area(
    values: Mapping[str, Any], names: Mapping[str, str], error: Markup, invalid: bool
) -> Markup:
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
    return fmt(
        '<fieldset id="group-rules-set"><legend>Group rules</legend>'
        '<div class="field"><label for="s-group_rules">Rules per Entra group</label>'
        '<textarea id="s-group_rules" name="group_rules" rows="6" cols="60"'
        ' aria-describedby="hint-group_rules err-group_rules"{inv}>{v}</textarea>'
        ' <small class="hint" id="hint-group_rules">{hint}</small>{err}'
        '<ul id="group-rules">{shown}</ul></div></fieldset>',
        v=_rules_text(rules),
        hint=RULES_HINT,
        inv=Markup(' aria-invalid="true"') if invalid else "",
        err=error,
        shown=shown,
    )


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _form(
    request: web.Request,
    link: Link,
    values: Mapping[str, Any],
    errors: dict[str, str] | None = None,
    *,
    group_names: Mapping[str, str] | None = None,
    group_problem: str = "",
) -> Markup:
    errors = errors or {}

    def error(name: str) -> Markup:
        if name not in errors:
            return Markup("")
        return fmt(
            '<span class="field-error" id="err-{n}" role="alert">{m}</span>', n=name, m=errors[name]
        )

    def field(name: str, kind: str, label: str, hint: str) -> Markup:
        described = f"hint-{name} err-{name}" if name in errors else f"hint-{name}"
        if kind == "check":
            return fmt(
                '<div class="check"><input type="checkbox" id="s-{n}" name="{n}" value="true"{c}'
                ' aria-describedby="{d}"> <label for="s-{n}">{label}</label>'
                ' <small class="hint" id="hint-{n}">{hint}</small>{err}</div>',
                n=name,
                c=Markup(" checked") if _truthy(values.get(name)) else "",
                d=described,
                label=label,
                hint=hint,
                err=error(name),
            )
        if kind == "choice":
            chosen = str(values.get(name) or CHOICES[name][0][0])
            return fmt(
                '<div class="field"><label for="s-{n}">{label}</label>'
                '<select id="s-{n}" name="{n}" aria-describedby="{d}">{options}</select>'
                ' <small class="hint" id="hint-{n}">{hint}</small>{err}</div>',
                n=name,
                label=label,
                d=described,
                options=join(
                    fmt(
                        '<option value="{v}"{sel}>{w}</option>',
                        v=v,
                        w=w,
                        sel=Markup(" selected") if v == chosen else "",
                    )
                    for v, w in CHOICES[name]
                ),
                hint=hint,
                err=error(name),
            )
        return fmt(
            '<div class="field"><label for="s-{n}">{label}</label>'
            '<input id="s-{n}" name="{n}" value="{v}" aria-describedby="{d}"{inv}>'
            ' <small class="hint" id="hint-{n}">{hint}</small>{err}</div>',
            n=name,
            label=label,
            v=_text(values.get(name)) or SHOWN_DEFAULTS.get(name, ""),
            d=described,
            hint=hint,
            inv=Markup(' aria-invalid="true"') if name in errors else "",
            err=error(name),
        )

    groups = join(
        fmt(
            '<fieldset id="group-{key}"><legend>{title}</legend>{fields}</fieldset>',
            key=key,
            title=title,
            fields=join(field(*f) for f in fields),
        )
        for key, title, fields in GROUPS
    )
    rules = _rules_area(values, group_names or {}, error("group_rules"), "group_rules" in errors)
    return fmt(
        '<form method="post" action="/links/{id}/settings" class="card settings"'
        ' id="settings-form">'
        "{csrf}{other}{scope}{groups}{rules}"
        '<button type="submit" id="settings-save">Save</button></form>'
        '<script src="/static/settings.js" defer></script>',
        id=link.id,
        csrf=csrf_field(request),
        other=error("settings"),
        scope=scope_fieldset(
            link.id,
            values,
            group_names or {},
            group_problem,
            error("scope"),
            error("group_ids"),
            field(
                "include_guests",
                "check",
                "Include guest accounts",
                "people from other organisations",
            ),
        ),
        groups=groups,
        rules=rules,
    )


def _ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str) and v)[:MAX_GROUPS]


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "on", "1"))


async def settings_submit(request: web.Request) -> web.StreamResponse:
    link = await link_for(request)
    form = await read_form(request)
    values: dict[str, Any] = dict(link.settings)
    for name, _, _ in (*CHECKBOXES, ("include_guests", "", "")):
        values[name] = form.get(name) == "true"
    for name, _, _ in TEXTS:
        values[name] = str(form.get(name) or "").strip()
    values["scope"] = "groups" if form.get("scope") == "groups" else "all"
    values["group_ids"] = [str(v)[:100] for v in form.getall("group_ids", [])][:MAX_GROUPS]
    values["group_rules"] = str(form.get("group_rules") or "").strip()
    try:
        saved = await save_settings(request.config_dict[DB], link.id, values)
    except PolicyError as exc:
        known = {n for n, *_ in FIELDS} | set(SCOPE_FIELDS) | {"group_rules"}
        field = exc.field if exc.field in known else "settings"
        names, problem = await group_names(request, link, _ids(values["group_ids"]))
        body = _form(
            request, link, values, {field: exc.message}, group_names=names, group_problem=problem
        )
        return render(
            request, f"Settings · {link.name}", body, link=link, status=422, topic="settings"
        )
    actor = f"admin:{principal_of(request).username}"
    await record_settings_change(request.config_dict[DB], link, saved, actor=actor, via="Settings")
    flash(request, "ok", "Settings saved.")
    raise web.HTTPSeeOther(f"/links/{link.id}/settings")
