"""Where real Vodia builds differ and the documentation is silent: one switch per difference.

Sources (see docs/research/vodia-fidelity.md):
- write replies: Vodia's OpenAPI v70.3 (doc.vodia.com/openapi/vodia-rest-api.yaml) says the
  user_settings POST "returns the updated settings object", with no schema. Vodia's PHP sample
  (vodia.com/documentation/vodia_php_rest_api, class VodiaRest) ignores every write reply and
  notes "return ok" for a plain-text answer; doc.vodia.com/docs/cellphones asks for cell numbers
  "without spaces or hyphens". So: "echo" (the spec, the default), "empty" (`{}`), "text"
  (a plain-text `ok`) and "normalised" (stores and echoes lowercased email, a cell without
  separators, trimmed names).
- legacy PUT: [PHP] writes `user_settings/{account}`, `addacc/` and `domain_action/` with PUT;
  the v70.3 spec documents POST. `legacy_put` answers POST on those three with 405, as an
  older build that only routes PUT would.
- the disabled flag: [SPEC] says `domain_action` (`disable_selected`/`enable_selected`) always
  answers `{}` and does not say where the change shows; `/users` rows carry a boolean
  `disabled` and `user_settings` has a `disabled` field. `disabled_shows_in` is "both" (the
  default), "users" (user_settings keeps its old value) or "settings" (the /users row keeps
  its old value).
- truncated lists (a fault): [SPEC] v70.3 documents `page`/`size` on some lists (`/orbits`,
  `/acds`, `/colines`) but none on `/users` and `/extensions`; a build or a proxy that pages
  or cuts those answers would return only the first rows. `truncate_lists` answers the next
  that many `/users` and `/extensions` reads (-1: every read, a paginated build) with only the
  first `truncate_keep` extension rows; other account kinds stay listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

WRITE_REPLIES = ("echo", "empty", "text", "normalised")
DISABLED_PLACES = ("both", "users", "settings")

_CELL_SEPARATORS = re.compile(r"[\s\-./()]")
_TRIMMED = ("first_name", "display_name")


@dataclass(slots=True)
class Quirks:
    write_reply: str = "echo"
    legacy_put: bool = False
    disabled_shows_in: str = "both"
    truncate_lists: int = 0
    truncate_keep: int = 0

    def __post_init__(self) -> None:
        check_choice("write_reply", self.write_reply, WRITE_REPLIES)
        check_choice("disabled_shows_in", self.disabled_shows_in, DISABLED_PLACES)

    def dump(self) -> dict[str, Any]:
        return {
            "write_reply": self.write_reply,
            "legacy_put": self.legacy_put,
            "disabled_shows_in": self.disabled_shows_in,
            "truncate_lists": self.truncate_lists,
            "truncate_keep": self.truncate_keep,
        }

    def update(self, body: dict[str, Any]) -> None:
        """Apply the control API's quirk switches; raises ValueError on a bad value."""
        if "write_reply" in body:
            self.write_reply = check_choice("write_reply", body["write_reply"], WRITE_REPLIES)
        if "legacy_put" in body:
            if not isinstance(body["legacy_put"], bool):
                raise ValueError("legacy_put must be true or false")
            self.legacy_put = body["legacy_put"]
        if "disabled_shows_in" in body:
            self.disabled_shows_in = check_choice(
                "disabled_shows_in", body["disabled_shows_in"], DISABLED_PLACES
            )
        for name in ("truncate_lists", "truncate_keep"):
            if name in body:
                value = body[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                    raise ValueError(f"{name} must be an integer >= -1")
                setattr(self, name, value)

    def truncated(self, extension_rows: list[T]) -> list[T]:
        """The rows one list answer shows; counts the read against `truncate_lists`."""
        if self.truncate_lists == 0:
            return extension_rows
        if self.truncate_lists > 0:
            self.truncate_lists -= 1
        return extension_rows[: max(self.truncate_keep, 0)]

    def stored_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """What a normalising build keeps of a user_settings write; others keep it as sent."""
        if self.write_reply != "normalised":
            return fields
        kept = dict(fields)
        for name, value in fields.items():
            if not isinstance(value, str):
                continue
            if name == "email_address":
                kept[name] = value.strip().lower()
            elif name == "cell_dis":
                kept[name] = _CELL_SEPARATORS.sub("", value)
            elif name in _TRIMMED:
                kept[name] = value.strip()
        return kept


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}")
    return str(value)
