"""The emulated PBX's data: tenants (domains) with accounts, settings and config.

Tests drive it directly through these methods; the HTTP routes are thin wrappers.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from emulators.pbx.accounts import Account
from emulators.pbx.quirks import Quirks

# Seeded in every tenant whatever `--extensions` says, as real tenants have them; numbers
# they hold are taken for extensions too (`/users` lists them with their usertype).
_SERVICE_ACCOUNTS = (
    ("800", "hunts", "Sales Hunt"),
    ("801", "acds", "Support Queue"),
    ("802", "ivrnodes", "Main Menu"),
)


class LimitReached(Exception):
    """The tenant's max_extensions would be exceeded."""


@dataclass(slots=True)
class Tenant:
    id: int
    name: str
    display: str
    settings: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    # Kept up to date by PbxState so that the max_extensions check stays O(1).
    extensions_total: int = 0

    @property
    def max_extensions(self) -> int:
        raw = str(self.config.get("max_extensions", "") or "0")
        return int(raw) if raw.isdigit() else 0

    def extension_count(self) -> int:
        return self.extensions_total

    def extensions(self) -> list[Account]:
        return [account for account in self.accounts.values() if account.is_extension]

    def domain_row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display": self.display,
            "alias": list(self.config.get("alias", [])),
            "country": "1",
            "area": "425",
        }


class PbxState:
    def __init__(
        self,
        domains: tuple[str, ...],
        *,
        max_extensions: int,
        strict_duplicates: bool = False,
        quirks: Quirks | None = None,
    ) -> None:
        if not domains:
            raise ValueError("the PBX needs at least one domain")
        self.strict_duplicates = strict_duplicates
        self.quirks = quirks or Quirks()
        self.tenants: dict[str, Tenant] = {}
        self.requests_by_method: Counter[str] = Counter()
        self._ids = itertools.count(1)
        for index, name in enumerate(domains, start=1):
            self.tenants[name] = _new_tenant(index, name, max_extensions)
            for number, usertype, display in _SERVICE_ACCOUNTS:
                account = self._new_account(self.tenants[name], number, usertype)
                account.settings["display_name"] = display

    @property
    def default_domain(self) -> str:
        return next(iter(self.tenants))

    def tenant(self, domain: str | None = None) -> Tenant:
        return self.tenants[domain or self.default_domain]

    def find_tenant(self, domain: str) -> Tenant | None:
        """By primary name, alias or numeric id, as the PBX resolves `{domain}` in a path."""
        tenant = self.tenants.get(domain)
        if tenant is not None:
            return tenant
        for candidate in self.tenants.values():
            if domain == str(candidate.id) or domain in candidate.config.get("alias", []):
                return candidate
        return None

    def get(self, number: str, domain: str | None = None) -> Account | None:
        return self.tenant(domain).accounts.get(number)

    def extensions(self, domain: str | None = None) -> list[Account]:
        return self.tenant(domain).extensions()

    def add_account(
        self, number: str, usertype: str = "extensions", *, domain: str | None = None
    ) -> Account | None:
        """Create one account; None if the number is taken (the caller decides how loud)."""
        tenant = self.tenant(domain)
        if number in tenant.accounts:
            return None
        if usertype == "extensions":
            limit = tenant.max_extensions
            if limit and tenant.extension_count() >= limit:
                raise LimitReached(f"max_extensions ({limit}) reached")
        return self._new_account(tenant, number, usertype)

    def add_extension(
        self,
        number: str,
        *,
        domain: str | None = None,
        first_name: str = "",
        last_name: str = "",
        email: str = "",
        cell: str = "",
        disabled: bool = False,
        **settings: str,
    ) -> Account:
        account = self.add_account(number, domain=domain)
        if account is None:
            raise ValueError(f"extension {number} exists")
        account.merge(
            {
                "first_name": first_name,
                "display_name": last_name,
                "email_address": email,
                "cell_dis": cell,
                "disabled": disabled,
                **settings,
            }
        )
        return account

    def remove_account(self, number: str, domain: str | None = None) -> bool:
        tenant = self.tenant(domain)
        account = tenant.accounts.pop(number, None)
        if account is not None and account.is_extension:
            tenant.extensions_total -= 1
        return account is not None

    def set_disabled(self, numbers: list[str], disabled: bool, domain: str | None = None) -> int:
        tenant, changed = self.tenant(domain), 0
        for number in numbers:
            account = tenant.accounts.get(number)
            if account is not None:
                account.set_disabled(disabled, self.quirks.disabled_shows_in)
                changed += 1
        return changed

    def shown_disabled(self, number: str, domain: str | None = None) -> bool:
        """Is the extension disabled where this build shows domain_action's effect?"""
        account = self.get(number, domain)
        if account is None:
            raise KeyError(number)
        return account.shown_disabled(self.quirks.disabled_shows_in)

    def dump(self) -> dict[str, Any]:
        return {
            "strict_duplicates": self.strict_duplicates,
            "quirks": self.quirks.dump(),
            "requests_by_method": dict(self.requests_by_method),
            "tenants": {
                name: {
                    "id": tenant.id,
                    "settings": dict(tenant.settings),
                    "config": dict(tenant.config),
                    "accounts": {
                        number: {
                            "id": account.id,
                            "usertype": account.usertype,
                            **account.user_settings(),
                        }
                        for number, account in tenant.accounts.items()
                    },
                }
                for name, tenant in self.tenants.items()
            },
        }

    def _new_account(self, tenant: Tenant, number: str, usertype: str) -> Account:
        account = Account.new(next(self._ids), number, usertype)
        tenant.accounts[number] = account
        if account.is_extension:
            tenant.extensions_total += 1
        return account


def _new_tenant(tenant_id: int, name: str, max_extensions: int) -> Tenant:
    display = name.split(".")[1].capitalize() if name.count(".") >= 2 else name
    settings = {
        "display": display,
        "country_code": "1",
        "area_code": "425",
        "default_dialplan": "",
        "login_keep": "false",
        "max_idle": "43200",
        "mssign": "false",
        "intpub": "",
        "crm_system": "",
        "recording": "false",
    }
    config = {
        "primary": name,
        "alias": [],
        "admins": [f"admin@{name}"],
        "country_code": "1",
        "display": display,
        "max_extensions": str(max_extensions),
        "visible": "true",
    }
    return Tenant(id=tenant_id, name=name, display=display, settings=settings, config=config)
