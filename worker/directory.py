"""Graph user objects -> DirectoryUser, merging delta items into what we knew.

A delta item carries `id` plus at least the changed properties (with `Prefer:
return=minimal`, only those); properties it leaves out keep their last known value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from store.models import DirectoryUser, Removal

GRAPH_TO_FIELD = {
    "displayName": "display_name",
    "givenName": "given_name",
    "surname": "surname",
    "mail": "mail",
    "userPrincipalName": "user_principal_name",
    "businessPhones": "business_phones",
    "mobilePhone": "mobile_phone",
    "accountEnabled": "account_enabled",
    "userType": "user_type",
    "department": "department",
    "jobTitle": "job_title",
    "employeeId": "employee_id",
    # A complex property: Graph returns all 15 attributes together (nulls included), and
    # the individual attributes cannot be $selected (resources/user.md).
    "onPremisesExtensionAttributes": "extension_attributes",
}
EXTENSION_ATTRIBUTE_COUNT = 15
MAX_ATTRIBUTE_LENGTH = 1024  # onpremisesextensionattributes.md: up to 1024 characters each


def user_id_of(item: Mapping[str, Any]) -> str | None:
    value = item.get("id")
    return value.lower() if isinstance(value, str) and value else None


def merge_item(
    existing: DirectoryUser | None, item: Mapping[str, Any], now: float
) -> DirectoryUser | None:
    """Apply one Graph user (list or delta item) to what we knew; None if it has no id."""
    user_id = user_id_of(item)
    if user_id is None:
        return None
    base = existing or DirectoryUser(id=user_id)
    changes: dict[str, Any] = {"updated_at": now}
    for graph_name, field in GRAPH_TO_FIELD.items():
        if graph_name in item:
            changes[field] = _clean(field, item[graph_name])
    removed = item.get("@removed")
    if isinstance(removed, Mapping):
        changes["removed"] = Removal.HARD if removed.get("reason") == "deleted" else Removal.SOFT
    else:
        # A created or restored user comes back as a plain entry.
        changes["removed"] = None
    return replace(base, **changes)


def _clean(field: str, value: Any) -> Any:
    if field == "business_phones":
        if not isinstance(value, list):
            return ()
        return tuple(str(v) for v in value if isinstance(v, str) and v.strip())
    if field == "extension_attributes":
        return _extension_attributes(value)
    if field == "account_enabled":
        return value if isinstance(value, bool) else None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _extension_attributes(value: Any) -> tuple[tuple[str, str], ...]:
    """The set values of onPremisesExtensionAttributes, in attribute order; anything that is
    not a string of at most 1024 characters is left out (never trust the directory)."""
    if not isinstance(value, Mapping):
        return ()
    out = []
    for i in range(1, EXTENSION_ATTRIBUTE_COUNT + 1):
        name = f"extensionAttribute{i}"
        raw = value.get(name)
        if isinstance(raw, str) and raw.strip() and len(raw) <= MAX_ATTRIBUTE_LENGTH:
            out.append((name, raw.strip()))
    return tuple(out)
