"""One PBX account (an extension, a hunt group, an IVR node, ...) and its settings.

Vodia keeps settings as strings ("true"/"false", "0", "") except `alias`, a list; the
lists (`/users`, `/extensions`) turn some of them into real booleans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

USERTYPES = frozenset(
    {
        "extensions",
        "acds",
        "hunts",
        "attendants",
        "ivrnodes",
        "srvflags",
        "orbits",
        "hoots",
        "conferences",
        "callingcards",
        "colines",
    }
)

# A realistic subset of the ~150 fields an extension's user_settings carries.
_EXTENSION_DEFAULTS: dict[str, str] = {
    "first_name": "",
    "display_name": "",
    "email_address": "",
    "cell_dis": "",
    "position": "",
    "department": "",
    "building": "",
    "location": "",
    "room": "",
    "comment": "",
    "disabled": "false",
    "dnd": "false",
    "euse": "",
    "avail": "true",
    "cfa": "",
    "cfb": "",
    "cell_always": "false",
    "cell_never": "false",
    "mb_enable": "true",
    "mac": "",
    "skills": "",
    "dial_plan": "",
    "need_license": "true",
    "shortname": "",
    "teams_number": "",
    "oauth_list": "",
    "pronunciation": "",
    "publish": "",
    "visible": "true",
    "crm_username": "",
}

_SERVICE_DEFAULTS: dict[str, str] = {
    "display_name": "",
    "building": "",
    "department": "",
    "location": "",
    "room": "",
    "comment": "",
    "disabled": "",
    "dial_plan": "",
    "visible": "true",
}


@dataclass(slots=True)
class Account:
    id: int
    number: str
    usertype: str = "extensions"
    settings: dict[str, str] = field(default_factory=dict)
    alias: list[str] = field(default_factory=list)
    # What the /users row shows for `disabled` when it differs from user_settings (a build
    # where domain_action shows in one place only); None: the row follows the settings.
    listed_disabled: bool | None = None

    @classmethod
    def new(cls, account_id: int, number: str, usertype: str = "extensions") -> Account:
        defaults = _EXTENSION_DEFAULTS if usertype == "extensions" else _SERVICE_DEFAULTS
        return cls(
            id=account_id, number=number, usertype=usertype, settings=dict(defaults), alias=[number]
        )

    @property
    def disabled(self) -> bool:
        return self.settings.get("disabled") == "true"

    @property
    def is_extension(self) -> bool:
        return self.usertype == "extensions"

    def set_disabled(self, disabled: bool, shows_in: str) -> None:
        """domain_action's effect, shown where this build shows it (quirks.py)."""
        if shows_in == "users":
            self.listed_disabled = disabled
            return
        if shows_in == "settings" and self.listed_disabled is None:
            self.listed_disabled = self.disabled
        elif shows_in == "both":
            self.listed_disabled = None
        self.settings["disabled"] = "true" if disabled else "false"

    def shown_disabled(self, shows_in: str) -> bool:
        """Is the account disabled, as this build shows it (for tests)?"""
        if shows_in == "users":
            return bool(self.users_row()["disabled"])
        return self.disabled

    def full_name(self) -> str:
        first, last = self.settings.get("first_name", ""), self.settings.get("display_name", "")
        return f"{first} {last}".strip()

    def merge(self, fields: dict[str, Any]) -> None:
        """Apply a partial user_settings write: given fields change, others stay."""
        for name, value in fields.items():
            if name == "alias":
                self.alias = (
                    [str(item) for item in value] if isinstance(value, list) else [str(value)]
                )
            else:
                self.settings[name] = setting_string(value)

    def user_settings(self) -> dict[str, Any]:
        return {**self.settings, "alias": list(self.alias)}

    def users_row(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.number,
            "alias": list(self.alias),
            "ani": [],
            "displayname": self.full_name(),
            "disabled": self.disabled if self.listed_disabled is None else self.listed_disabled,
            "license": self.settings.get("need_license", "true") == "true",
            "visible": self.settings.get("visible", "true") != "false",
            "usertype": self.usertype,
        }

    def extensions_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.number,
            "first_name": self.settings.get("first_name", ""),
            "display_name": self.settings.get("display_name", ""),
            "dnd": self.settings.get("dnd") == "true",
            "email_address": self.settings.get("email_address", ""),
            "alias": list(self.alias),
        }

    def userlist_row(self) -> dict[str, str]:
        name = self.full_name()
        return {"account": self.number, "name": name, "display": name}


def setting_string(value: Any) -> str:
    """Settings are strings on the wire; booleans become "true"/"false" like the PBX's own."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
