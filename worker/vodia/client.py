"""`VodiaClient`: the worker's hand on one Vodia PBX tenant (domain).

Written to ../shared/research/vodia-api.md: HTTP Basic as the tenant admin
(`admin@{domain}`) or the system admin; lists merged from `/users` and `/extensions`;
creates that are checked before and read back after, because `addacc` can answer 200
without creating anything; enable/disable through `domain_action`, read back too.
Writes are POSTs, or PUTs on older builds that answer POST with 405 (the transport
remembers which). There is deliberately no delete: the product never deletes an extension.
"""

from __future__ import annotations

import asyncio
import re
import ssl as ssl_module
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from store.models import Extension
from worker.errors import PbxError, PbxNotFoundError, PbxWriteNotApplied
from worker.vodia import confirm, rows
from worker.vodia.transport import PbxTransport

HUNT_MEMBERS_FIELD = "st1_ext"
_NUMBER = re.compile(r"^[0-9A-Za-z_.+-]{1,32}$")
# domain_action takes one space-separated string; keep each request body modest.
_ACTION_BATCH = 200
# Above this many numbers one /users read is cheaper than one user_settings read each.
_READBACK_LIST_THRESHOLD = 20


class ExtensionExists(PbxError):
    """create_extension was asked for a number that is already taken."""


@dataclass(frozen=True, slots=True)
class PbxAccounts:
    """One read of the tenant: its extensions, and every other number already taken."""

    extensions: list[Extension]
    # number -> usertype ("hunts", "acds", "ivrnodes", ..., "alias"): never to be handed out
    others: dict[str, str] = field(default_factory=dict)


class VodiaClient:
    def __init__(
        self,
        base_url: str,
        domain: str,
        username: str,
        password: str,
        *,
        ssl: ssl_module.SSLContext | bool | None = None,
        connector: aiohttp.BaseConnector | None = None,
        max_in_flight: int = 8,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.5,
    ) -> None:
        self.domain = domain
        self._prefix = f"/rest/domain/{quote(domain, safe='')}"
        # Does /users show domain_action's effect? None until a read-back has told;
        # False once a disable showed in user_settings but not in the list.
        self._list_shows_disabled: bool | None = None
        self._http = PbxTransport(
            base_url,
            username,
            password,
            ssl=ssl,
            connector=connector,
            max_in_flight=max_in_flight,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
        )

    async def __aenter__(self) -> VodiaClient:
        await self._http.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    async def verify(self) -> None:
        """Prove the credentials reach this domain (GET /rest/system/session would not)."""
        await self._http.get(f"{self._prefix}/settings")

    async def list_extensions(self, *, with_cell: bool = True) -> list[Extension]:
        """Every extension of the tenant, ordered by number (see `list_accounts`)."""
        return (await self.list_accounts(with_cell=with_cell)).extensions

    async def list_accounts(self, *, with_cell: bool = True) -> PbxAccounts:
        """Every extension of the tenant, ordered by number, and the numbers of every
        other account (hunt groups, queues, IVRs, conferences, ...).

        Names, email and the disabled flag come from two list requests. No documented
        list carries `cell_dis`; when the rows lack it and `with_cell` is set, each such
        extension's user_settings is read, bounded by `max_in_flight`. So is every
        extension's once a disable showed on this PBX in user_settings but not in /users
        (`_confirm_disabled`): there the list's flag cannot be trusted.
        """
        users, details = await asyncio.gather(
            self._http.get(f"{self._prefix}/users"),
            self._http.get(f"{self._prefix}/extensions"),
        )
        merged, without_cell = rows.merge_lists(users, details)
        others = rows.other_accounts(users, merged)
        trust_list = self._list_shows_disabled is not False
        reread = set() if trust_list else set(merged)
        if with_cell:
            reread |= without_cell
        fresh = await asyncio.gather(*(self.get_extension(n) for n in sorted(reread)))
        for extension in fresh:
            if extension is not None and extension.number in merged:
                listed = merged[extension.number]
                merged[extension.number] = replace(
                    listed,
                    cell=extension.cell if extension.number in without_cell else listed.cell,
                    disabled=listed.disabled if trust_list else extension.disabled,
                )
        return PbxAccounts(list(merged.values()), others)

    async def get_extension(self, number: str) -> Extension | None:
        """One extension from its user_settings; None if the PBX has no such account."""
        settings = await self._read_settings(number)
        return None if settings is None else rows.extension_from_settings(number, settings)

    async def create_extension(self, number: str, fields: Mapping[str, str]) -> Extension:
        """Create the extension and set `fields` (Vodia names); confirmed by reading back.

        Three requests: is the number free, addacc, then the partial user_settings POST.
        A PBX that silently ignored addacc answers that POST with 404. The POST's answer
        proves the fields took when it shows them; otherwise (`{}`, plain text, values the
        PBX normalised differently) one read-back decides (`_confirm`).
        """
        _check_number(number)
        body = _string_fields(fields)
        if await self._read_settings(number) is not None:
            raise ExtensionExists(f"extension {number} already exists on {self.domain}")
        try:
            await self._http.write(
                f"{self._prefix}/addacc", {"type": "extensions", "account_ext": number}
            )
        except PbxError as exc:
            # A retried addacc whose first attempt did land is a duplicate to a strict PBX.
            if exc.status != 400 or await self._read_settings(number) is None:
                raise
        try:
            reply = await self._http.write(self._settings_path(number), body)
        except PbxNotFoundError:
            raise PbxWriteNotApplied(
                f"the PBX accepted creating {number} but did not create it"
            ) from None
        settings = await self._confirm(number, body, reply)
        if settings is None:
            raise PbxWriteNotApplied(f"the PBX accepted creating {number} but did not create it")
        return rows.extension_from_settings(number, settings)

    async def update_extension(self, number: str, fields: Mapping[str, str]) -> Extension:
        """Partial write of only `fields`, confirmed by the answer or a read-back."""
        _check_number(number)
        body = _string_fields(fields)
        reply = await self._http.write(self._settings_path(number), body)
        settings = await self._confirm(number, body, reply)
        if settings is None:
            raise PbxNotFoundError(f"extension {number} not found", status=404)
        return rows.extension_from_settings(number, settings)

    async def tenant_setting(self, name: str) -> str:
        """One tenant (domain) setting, as the PBX spells it ("" when absent)."""
        settings = await self._http.get(f"{self._prefix}/settings")
        value = settings.get(name) if isinstance(settings, Mapping) else None
        return "" if value is None else str(value)

    async def set_tenant_setting(self, name: str, value: str) -> None:
        """A partial POST of the tenant settings, confirmed by reading them back."""
        await self._http.write(f"{self._prefix}/settings", {name: value})
        shown = await self.tenant_setting(name)
        if shown.strip().lower() != value.lower():
            raise PbxWriteNotApplied(f"tenant setting {name} did not change (shows {shown!r})")

    async def hunt_members(self, number: str) -> tuple[str, ...] | None:
        """The extensions of a hunt group's first stage (`st1_ext`, space-separated, in its
        user_settings: https://api.vodia.com/hunt_groups_api); None if there is no such
        account. Stages 2-4 stay the administrator's (overflow to a cell phone, ...)."""
        settings = await self._read_settings(number)
        if settings is None:
            return None
        return tuple(str(settings.get(HUNT_MEMBERS_FIELD) or "").split())

    async def set_hunt_members(self, number: str, members: Iterable[str]) -> None:
        """Write the first stage's extensions (a partial user_settings POST, as for an
        extension), confirmed by the answer or a read-back. Never a delete."""
        _check_number(number)
        body = {HUNT_MEMBERS_FIELD: " ".join(members)}
        reply = await self._http.write(self._settings_path(number), body)
        if await self._confirm(number, body, reply) is None:
            raise PbxNotFoundError(f"hunt group {number} not found", status=404)

    async def _confirm(
        self, number: str, body: Mapping[str, str], reply: Any
    ) -> Mapping[str, Any] | None:
        """The settings that show `body` applied (compared leniently); None if the account
        is gone. An answer that shows every field is proof enough; anything else (`{}`,
        text, a stale or partial object) is checked against a fresh read, so a write that
        landed is never reported as failed and retried round after round."""
        if isinstance(reply, Mapping) and not confirm.unapplied(body, reply):
            return reply
        settings = await self._read_settings(number)
        if settings is None:
            return None
        wrong = confirm.unapplied(body, settings)
        if wrong:
            raise PbxWriteNotApplied(f"extension {number}: fields not applied: {', '.join(wrong)}")
        return settings

    async def disable(self, numbers: Iterable[str]) -> None:
        """Deactivate (never delete) the extensions; raises if any did not change."""
        await self._set_disabled(list(numbers), disabled=True)

    async def enable(self, numbers: Iterable[str]) -> None:
        await self._set_disabled(list(numbers), disabled=False)

    async def _set_disabled(self, numbers: list[str], *, disabled: bool) -> None:
        for number in numbers:
            _check_number(number)
        if not numbers:
            return
        action = "disable_selected" if disabled else "enable_selected"
        for start in range(0, len(numbers), _ACTION_BATCH):
            selected = " ".join(numbers[start : start + _ACTION_BATCH])
            await self._http.write(
                f"{self._prefix}/domain_action",
                {"type": "accounts", "action": action, "selected": selected},
            )
        await self._confirm_disabled(numbers, disabled=disabled)

    async def _confirm_disabled(self, numbers: list[str], *, disabled: bool) -> None:
        """domain_action always answers `{}`, and where its effect shows is not documented:
        the /users row's `disabled` or user_settings' `disabled`. Either one showing the
        wanted state confirms a number.

        Until this PBX has shown where (and for large batches) one /users read covers every
        number and user_settings is read for the rest; afterwards a small batch reads
        user_settings first and /users only for what those did not confirm.
        """
        action = "disable_selected" if disabled else "enable_selected"
        list_first = self._list_shows_disabled is None or len(numbers) > _READBACK_LIST_THRESHOLD
        listed = await self._listed_disabled() if list_first else {}
        pending = [number for number in numbers if listed.get(number) is not disabled]
        if list_first and disabled and len(pending) < len(numbers):
            self._list_shows_disabled = self._list_shows_disabled is not False
        found = await asyncio.gather(*(self._read_settings(number) for number in pending))
        shown = {
            number: None if settings is None else rows.as_bool(settings.get("disabled"))
            for number, settings in zip(pending, found, strict=True)
        }
        unconfirmed = [number for number in pending if shown[number] is not disabled]
        if list_first:
            if any(shown[n] is disabled and listed.get(n) is not None for n in pending):
                # This build shows the flag in user_settings only: lists must read it there.
                self._list_shows_disabled = False
        elif unconfirmed:
            listed = await self._listed_disabled()
        unconfirmed = [number for number in unconfirmed if listed.get(number) is not disabled]
        missing = [n for n in unconfirmed if shown[n] is None and n not in listed]
        if missing:
            raise PbxNotFoundError(f"no such extensions: {' '.join(missing)}", status=404)
        if unconfirmed:
            raise PbxWriteNotApplied(f"{action} did not apply to: {' '.join(unconfirmed)}")

    async def _listed_disabled(self) -> dict[str, bool]:
        users = await self._http.get(f"{self._prefix}/users")
        return {
            rows.row_number(row): rows.as_bool(row["disabled"])
            for row in rows.rows(users)
            if "disabled" in row
        }

    async def _read_settings(self, number: str) -> Mapping[str, Any] | None:
        _check_number(number)
        try:
            settings = await self._http.get(self._settings_path(number))
        except PbxNotFoundError:
            return None
        if not isinstance(settings, Mapping):
            raise PbxError(f"user_settings of {number} is not an object", status=200)
        return settings

    def _settings_path(self, number: str) -> str:
        return f"{self._prefix}/user_settings/{quote(number, safe='')}"


def _check_number(number: str) -> None:
    # "/" creates several accounts in addacc and spaces separate them in domain_action.
    if not _NUMBER.match(number):
        raise ValueError(f"invalid extension number {number!r}")


def _string_fields(fields: Mapping[str, str]) -> dict[str, str]:
    body: dict[str, str] = {}
    for name, value in fields.items():
        if not isinstance(value, str):
            raise TypeError(f"field {name} must be a string, got {type(value).__name__}")
        body[name] = value
    return body
