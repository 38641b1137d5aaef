"""The Settings page's Scope line: "All accounts" or "Members of these groups", with a
group picker (shown only when groups are chosen) that stores ids and shows names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from admin.html import Markup, fmt, join

MAX_GROUPS = 50


def _chosen_item(group_id: str, name: str) -> Markup:
    return fmt(
        '<li data-group-id="{id}"><span class="group-name">{name}</span>'
        '<input type="hidden" name="group_ids" value="{id}"> '
        '<button type="button" class="small secondary" data-remove-group'
        ' aria-label="Remove {name}">Remove</button></li>',
        id=group_id,
        name=name or group_id,
    )


def scope_fieldset(
    link_id: int,
    values: Mapping[str, Any],
    names: Mapping[str, str],
    problem: str,
    scope_error: Markup,
    groups_error: Markup,
    guests: Markup,
) -> Markup:
    groups = values.get("scope") == "groups"
    ids = [i for i in values.get("group_ids") or () if isinstance(i, str)][:MAX_GROUPS]
    return fmt(
        '<fieldset id="group-scope"><legend>Who gets an extension</legend>'
        '<div class="check"><input type="radio" name="scope" value="all" id="scope-all"{all_c}>'
        ' <label for="scope-all">All accounts</label></div>'
        '<div class="check"><input type="radio" name="scope" value="groups" id="scope-groups"'
        '{groups_c}> <label for="scope-groups">Members of these groups</label>'
        ' <small class="hint">members of groups inside them count too</small></div>{scope_err}'
        '<div class="group-picker" id="group-picker" data-link-id="{link}"{hidden}>'
        '<p class="hint" id="group-none"{none_hidden}>No group chosen yet.</p>'
        '<ul id="group-chosen" aria-label="Chosen groups">{chosen}</ul>{groups_err}'
        '<label for="group-search">Find a group by the start of its name</label>'
        '<input id="group-search" type="search" autocomplete="off" maxlength="100">'
        ' <button type="button" id="group-find" class="secondary">Search</button>'
        '<p id="group-status" role="status" aria-live="polite">{problem}</p>'
        '<ul id="group-results" aria-label="Groups found"></ul></div>'
        "{guests}</fieldset>",
        all_c=Markup("") if groups else Markup(" checked"),
        groups_c=Markup(" checked") if groups else Markup(""),
        scope_err=scope_error,
        link=link_id,
        hidden=Markup("") if groups else Markup(" hidden"),
        none_hidden=Markup(" hidden") if ids else Markup(""),
        chosen=join(_chosen_item(gid, names.get(gid, "")) for gid in ids),
        groups_err=groups_error,
        problem=problem,
        guests=guests,
    )
