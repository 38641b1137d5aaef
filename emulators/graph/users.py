"""The user schema the emulator knows: which properties exist, which come back by
default, and how a body from `POST`/`PATCH /users` is checked."""

from __future__ import annotations

import time
from typing import Any

from .errors import bad_request

# Returned by GET /users and /users/{id} when no $select is given (graph-api.md §1).
DEFAULT_PROPERTIES: tuple[str, ...] = (
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
)

_STRING_PROPERTIES = frozenset(
    {
        "city",
        "companyName",
        "country",
        "department",
        "displayName",
        "employeeId",
        "givenName",
        "jobTitle",
        "mail",
        "mailNickname",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "usageLocation",
        "userPrincipalName",
        "userType",
    }
)
# The 15 Exchange custom attributes, one complex property of the user. Source: Microsoft
# Learn, resources/onpremisesextensionattributes.md (extensionAttribute1..15, strings of
# up to 1024 characters) and resources/user.md ("Returned only on $select"; the single
# attributes are "neither selectable nor filterable", so only the whole object is).
EXTENSION_ATTRIBUTES = "onPremisesExtensionAttributes"
EXTENSION_ATTRIBUTE_NAMES = tuple(f"extensionAttribute{i}" for i in range(1, 16))
MAX_ATTRIBUTE_LENGTH = 1024
WRITABLE_PROPERTIES = _STRING_PROPERTIES | {
    "accountEnabled",
    "businessPhones",
    EXTENSION_ATTRIBUTES,
}
READ_ONLY_PROPERTIES = frozenset({"id", "createdDateTime", "deletedDateTime"})
ALL_PROPERTIES = WRITABLE_PROPERTIES | READ_ONLY_PROPERTIES
# Accepted on create and never returned, like the real service.
_WRITE_ONLY = frozenset({"passwordProfile", "@odata.type"})


_BLANK_USER: dict[str, Any] = dict.fromkeys(sorted(ALL_PROPERTIES))
_BLANK_USER.update(accountEnabled=True, userType="Member")


def blank_user(user_id: str, created: str) -> dict[str, Any]:
    user = _BLANK_USER.copy()
    user.update(
        id=user_id,
        createdDateTime=created,
        businessPhones=[],
        onPremisesExtensionAttributes=dict.fromkeys(EXTENSION_ATTRIBUTE_NAMES),
    )
    return user


def merged_attributes(current: Any, update: dict[str, Any]) -> dict[str, Any]:
    """A PATCH of the complex property sets the attributes it names and keeps the others
    (OData v4.01 Protocol §11.4.3: a complex value in PATCH is merged, not replaced);
    Learn's user-update example sets one extensionAttribute this way."""
    base = current if isinstance(current, dict) else dict.fromkeys(EXTENSION_ATTRIBUTE_NAMES)
    return {**base, **update}


def parse_select(raw: str | None) -> tuple[str, ...] | None:
    """`$select` → property names (with `id` always first), or None for the default set."""
    if raw is None or not raw.strip():
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        if name not in ALL_PROPERTIES:
            raise bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph.user'."
            )
    return ("id", *dict.fromkeys(name for name in names if name != "id"))


def check_user_body(body: Any, *, creating: bool) -> dict[str, Any]:
    """Validate a create/update body; return only the writable properties it sets."""
    if not isinstance(body, dict):
        raise bad_request("Empty Payload. JSON content expected.", code="BadRequest")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in _WRITE_ONLY:
            continue
        if name in READ_ONLY_PROPERTIES:
            raise bad_request(f"Property '{name}' is read-only and cannot be set.")
        if name not in WRITABLE_PROPERTIES:
            raise bad_request(
                f"Invalid property '{name}'. Property '{name}' does not exist on "
                "type 'microsoft.graph.user'."
            )
        changes[name] = _checked_value(name, value)
    if creating:
        for required in ("displayName", "userPrincipalName"):
            if not changes.get(required):
                raise bad_request(
                    f"Invalid value specified for property '{required}' of resource 'User'."
                )
    return changes


def _checked_value(name: str, value: Any) -> Any:
    if name == "accountEnabled":
        if not isinstance(value, bool):
            raise _invalid(name)
        return value
    if name == "businessPhones":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(name)
        return list(value)
    if name == EXTENSION_ATTRIBUTES:
        return _checked_attributes(value)
    if value is not None and not isinstance(value, str):
        raise _invalid(name)
    if name in ("displayName", "userPrincipalName") and not value:
        raise _invalid(name)
    if name == "userPrincipalName" and "@" not in str(value):
        raise _invalid(name)
    return value


def _checked_attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(EXTENSION_ATTRIBUTES)
    for key, item in value.items():
        if key not in EXTENSION_ATTRIBUTE_NAMES:
            raise bad_request(
                f"Invalid property '{key}'. Property '{key}' does not exist on "
                "type 'microsoft.graph.onPremisesExtensionAttributes'."
            )
        if item is not None and (not isinstance(item, str) or len(item) > MAX_ATTRIBUTE_LENGTH):
            raise _invalid(EXTENSION_ATTRIBUTES)
    return dict(value)


def _invalid(name: str) -> Exception:
    return bad_request(f"Invalid value specified for property '{name}' of resource 'User'.")


def project(user: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    """The representation GET returns: the selected (or default) properties, nulls kept."""
    names = select or DEFAULT_PROPERTIES
    return {name: user.get(name) for name in names}


def iso_time(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))
