"""Turning the PBX's lenient list and settings shapes into `Extension` values.

Lists may be arrays or id-keyed objects; booleans may be real or "true"/"false";
the number is `name` in most rows and `account` in userlist rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store.models import Extension

FIRST_NAME = "first_name"
LAST_NAME = "display_name"  # Vodia's display_name holds the *last* name
EMAIL = "email_address"
CELL = "cell_dis"


def rows(payload: Any) -> list[Mapping[str, Any]]:
    if isinstance(payload, Mapping):
        inner = payload.get("accounts")
        payload = inner if isinstance(inner, list) else list(payload.values())
    if not isinstance(payload, list):
        return []
    return [row for row in payload if isinstance(row, Mapping)]


def row_number(row: Mapping[str, Any]) -> str:
    for key in ("name", "account", "account_ext", "extension", "number"):
        value = row.get(key)
        if isinstance(value, str | int) and str(value):
            return str(value)
    return ""


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def text(value: Any) -> str:
    return "" if value is None else str(value)


def extension_from_settings(number: str, settings: Mapping[str, Any]) -> Extension:
    return Extension(
        number=number,
        first_name=text(settings.get(FIRST_NAME)),
        last_name=text(settings.get(LAST_NAME)),
        email=text(settings.get(EMAIL)),
        cell=text(settings.get(CELL)),
        disabled=as_bool(settings.get("disabled")),
    )


def extension_fields(extension: Extension) -> dict[str, str]:
    """The Vodia user_settings fields for an extension's directory-owned values."""
    return {
        FIRST_NAME: extension.first_name,
        LAST_NAME: extension.last_name,
        EMAIL: extension.email,
        CELL: extension.cell,
    }


def merge_lists(users: Any, extensions: Any) -> tuple[dict[str, Extension], set[str]]:
    """Extensions from `/users` (disabled, usertype) and `/extensions` (names, email).

    Returns the merged extensions and the numbers whose rows carried no `cell_dis`.
    """
    details = {row_number(row): row for row in rows(extensions)}
    disabled: dict[str, bool] = {}
    for row in rows(users):
        usertype = row.get("usertype")
        number = row_number(row)
        if number and (usertype == "extensions" or (usertype is None and number in details)):
            disabled[number] = as_bool(row.get("disabled"))
    merged: dict[str, Extension] = {}
    without_cell: set[str] = set()
    for number in sorted(set(disabled) | (set(details) - {""}), key=_number_order):
        row = details.get(number, {})
        if CELL not in row:
            without_cell.add(number)
        merged[number] = Extension(
            number=number,
            first_name=text(row.get(FIRST_NAME)),
            last_name=text(row.get(LAST_NAME)),
            email=text(row.get(EMAIL)),
            cell=text(row.get(CELL)),
            disabled=disabled.get(number, as_bool(row.get("disabled"))),
        )
    return merged, without_cell


def other_accounts(users: Any, extensions: Mapping[str, Extension]) -> dict[str, str]:
    """Every number on the PBX that is not one of `extensions`: number -> its usertype.

    `/users` lists every account kind with its `usertype` (hunts, acds, ivrnodes,
    attendants, conferences, hoots, orbits, srvflags, callingcards, colines: Vodia's OpenAPI
    v70.3 and https://api.vodia.com/domains_lists_api). A number is one account name on the
    PBX whatever the kind, so all of them are taken; so are their alias names ("alias").
    A row without a usertype that `/extensions` did not list is taken too ("unknown").
    """
    taken: dict[str, str] = {}
    for row in rows(users):
        number = row_number(row)
        usertype = row.get("usertype")
        if number and number not in extensions:
            taken[number] = str(usertype) if isinstance(usertype, str) and usertype else "unknown"
        aliases = row.get("alias")
        for alias in aliases if isinstance(aliases, list) else ():
            name = str(alias) if isinstance(alias, str | int) else ""
            if name and name != number and name not in extensions:
                taken.setdefault(name, "alias")
    return taken


def _number_order(number: str) -> tuple[int, str]:
    return (len(number), number)
