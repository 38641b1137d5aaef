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


# A hunt group's own settings, from the example of GET /rest/domain/{d}/user_settings/{hunt}
# in Vodia's API pages (https://api.vodia.com/hunt_groups_api, "Vodia PBX API (for versions
# 58.0 and above)"): four stages, each with its extensions (`stN_ext`), its duration and
# whether a missed call is reported. Several accounts in one field are separated by spaces,
# as everywhere in Vodia's account fields (domain_action's `selected`, the UI's lists).
_HUNT_DEFAULTS: dict[str, str] = {
    **_SERVICE_DEFAULTS,
    "display": "",
    "melody": "ringer6",
    "st1_dur": "5",
    "st1_ext": "",
    "st1_miss": "true",
    "st2_dur": "",
    "st2_ext": "",
    "st2_miss": "false",
    "st3_dur": "",
    "st3_ext": "",
    "st3_miss": "false",
    "st4_ext": "",
}
HUNT_STAGE_FIELDS = ("st1_ext", "st2_ext", "st3_ext", "st4_ext")


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
        defaults = {"extensions": _EXTENSION_DEFAULTS, "hunts": _HUNT_DEFAULTS}.get(
            usertype, _SERVICE_DEFAULTS
        )
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

    def hunts_row(self) -> dict[str, Any]:
        """A row of GET /rest/domain/{d}/hunts (same source as _HUNT_DEFAULTS): the
        `agents` are every stage's extensions, as numbers in the documented example."""
        agents: list[Any] = []
        for stage in HUNT_STAGE_FIELDS:
            for member in self.settings.get(stage, "").split():
                if member not in agents:
                    agents.append(int(member) if member.isdigit() else member)
        display = self.settings.get("display") or self.settings.get("display_name", "")
        return {"name": self.number, "display": display, "agents": agents, "calls": 0}

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
