"""`VodiaClient`: the worker's hand on one Vodia PBX tenant (domain).

Written to ../shared/research/vodia-api.md: HTTP Basic as the tenant admin
(`admin@{domain}`) or the system admin; lists merged from `/users` and `/extensions`;
creates that are checked before and read back after, because `addacc` can answer 200
without creating anything; enable/disable through `domain_action`, read back too.
There is deliberately no delete: the product never deletes an extension.
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

from store.models import Extension
from worker.errors import PbxError, PbxNotFoundError, PbxWriteNotApplied
from worker.vodia import rows
from worker.vodia.transport import PbxTransport

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
        max_in_flight: int = 8,
        timeout_s: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.5,
    ) -> None:
        self.domain = domain
        self._prefix = f"/rest/domain/{quote(domain, safe='')}"
        self._http = PbxTransport(
            base_url,
            username,
            password,
            ssl=ssl,
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
        extension's user_settings is read, bounded by `max_in_flight`.
        """
        users, details = await asyncio.gather(
            self._http.get(f"{self._prefix}/users"),
            self._http.get(f"{self._prefix}/extensions"),
        )
        merged, without_cell = rows.merge_lists(users, details)
        others = rows.other_accounts(users, merged)
        if with_cell and without_cell:
            fresh = await asyncio.gather(*(self.get_extension(n) for n in sorted(without_cell)))
            for extension in fresh:
                if extension is not None and extension.number in merged:
                    listed = merged[extension.number]
                    merged[extension.number] = replace(listed, cell=extension.cell)
        return PbxAccounts(list(merged.values()), others)

    async def get_extension(self, number: str) -> Extension | None:
        """One extension from its user_settings; None if the PBX has no such account."""
        settings = await self._read_settings(number)
        return None if settings is None else rows.extension_from_settings(number, settings)

    async def create_extension(self, number: str, fields: Mapping[str, str]) -> Extension:
        """Create the extension and set `fields` (Vodia names); confirmed by reading back.

        Three requests: is the number free, addacc, then the partial user_settings POST,
        whose answer (the whole settings object) proves both that the account exists and
        that the fields took. A PBX that silently ignored addacc answers that POST with 404.
        """
        _check_number(number)
        body = _string_fields(fields)
        if await self._read_settings(number) is not None:
            raise ExtensionExists(f"extension {number} already exists on {self.domain}")
        try:
            await self._http.post(
                f"{self._prefix}/addacc", {"type": "extensions", "account_ext": number}
            )
        except PbxError as exc:
            # A retried addacc whose first attempt did land is a duplicate to a strict PBX.
            if exc.status != 400 or await self._read_settings(number) is None:
                raise
        try:
            settings = await self._http.post(self._settings_path(number), body)
        except PbxNotFoundError:
            raise PbxWriteNotApplied(
                f"the PBX accepted creating {number} but did not create it"
            ) from None
        if not isinstance(settings, Mapping):
            settings = await self._read_settings(number)
            if settings is None:
                raise PbxWriteNotApplied(
                    f"the PBX accepted creating {number} but did not create it"
                )
        _check_applied(number, body, settings)
        return rows.extension_from_settings(number, settings)

    async def update_extension(self, number: str, fields: Mapping[str, str]) -> Extension:
        """Partial write of only `fields`; the PBX answers the whole object, which is checked."""
        _check_number(number)
        body = _string_fields(fields)
        settings = await self._http.post(self._settings_path(number), body)
        if not isinstance(settings, Mapping):
            settings = await self._read_settings(number)
            if settings is None:
                raise PbxNotFoundError(f"extension {number} not found", status=404)
        _check_applied(number, body, settings)
        return rows.extension_from_settings(number, settings)

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
            await self._http.post(
                f"{self._prefix}/domain_action",
                {"type": "accounts", "action": action, "selected": selected},
            )
        states = await self._disabled_states(numbers)
        missing = [n for n in numbers if states.get(n) is None]
        if missing:
            raise PbxNotFoundError(f"no such extensions: {' '.join(missing)}", status=404)
        unchanged = [n for n in numbers if states[n] is not disabled]
        if unchanged:
            raise PbxWriteNotApplied(f"{action} did not apply to: {' '.join(unchanged)}")

    async def _disabled_states(self, numbers: list[str]) -> dict[str, bool | None]:
        if len(numbers) > _READBACK_LIST_THRESHOLD:
            users = await self._http.get(f"{self._prefix}/users")
            listed = {rows.row_number(r): rows.as_bool(r.get("disabled")) for r in rows.rows(users)}
            return {number: listed.get(number) for number in numbers}
        found = await asyncio.gather(*(self.get_extension(number) for number in numbers))
        return {n: (e.disabled if e else None) for n, e in zip(numbers, found, strict=True)}

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


def _check_applied(number: str, body: Mapping[str, str], settings: Mapping[str, Any]) -> None:
    wrong = sorted(name for name, value in body.items() if rows.text(settings.get(name)) != value)
    if wrong:
        raise PbxWriteNotApplied(f"extension {number}: fields not applied: {', '.join(wrong)}")
