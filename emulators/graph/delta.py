"""Delta query rounds over the directory's change log, and their opaque state tokens.

A token carries where the round started (`since_seq`), where it stops (`until_seq`,
fixed when the round begins so later changes wait for the next round), how far it has
read (`cursor_seq`), the `$select` baked in at the start, and when it was issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from emulators.clock import Clock

from .directory import ACTIVE, HARD_DELETED, Directory, UserRecord
from .errors import GraphError
from .users import DEFAULT_PROPERTIES

TOKEN_LIFETIME_S = 7 * 86400  # directory objects since July 2020 (graph-api.md §2)
DEFAULT_PAGE_SIZE = 200
MAX_PAGE_SIZE = 999
_DEFAULT_SELECT = ("id", *(name for name in DEFAULT_PROPERTIES if name != "id"))
_EXPIRED_MESSAGE = (
    "The sync state generation is not found. The delta token is expired and data must be "
    "synchronized again."
)


@dataclass(frozen=True, slots=True)
class DeltaState:
    since_seq: int
    cursor_seq: int
    until_seq: int | None  # None: a deltaLink whose round has not begun
    select: tuple[str, ...] | None
    initial: bool
    issued_at_s: float
    epoch: int
    ids: tuple[str, ...] | None = None  # from `$filter=id eq '…' or …`

    def to_json(self) -> dict[str, Any]:
        return {
            "s": self.since_seq,
            "c": self.cursor_seq,
            "u": self.until_seq,
            "p": list(self.select) if self.select else None,
            "i": self.initial,
            "t": self.issued_at_s,
            "g": self.epoch,
            "f": list(self.ids) if self.ids is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeltaState:
        select = data["p"]
        return cls(
            since_seq=int(data["s"]),
            cursor_seq=int(data["c"]),
            until_seq=None if data["u"] is None else int(data["u"]),
            select=tuple(str(name) for name in select) if select else None,
            initial=bool(data["i"]),
            issued_at_s=float(data["t"]),
            epoch=int(data["g"]),
            ids=tuple(str(i) for i in data["f"]) if data.get("f") is not None else None,
        )


def sync_state_not_found() -> GraphError:
    return GraphError(400, "syncStateNotFound", _EXPIRED_MESSAGE)


def expired_page_token() -> GraphError:
    # The directory's code for a skip token past its life: 400 Directory_ExpiredPageToken
    # (a public troubleshooting write-up "Directory_ExpiredPageToken error when working with users
    # API"; the Azure AD Graph client maps the code to PageNotAvailableException).
    return GraphError(
        400,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )


class DeltaTokens:
    """Encodes and checks tokens; `expire_all()` invalidates every token issued so far."""

    def __init__(
        self,
        clock: Clock,
        lifetime_s: float = TOKEN_LIFETIME_S,
        page_lifetime_s: float | None = None,
    ) -> None:
        self._clock = clock
        self._key = secrets.token_bytes(16)
        self.lifetime_s = lifetime_s
        self.page_lifetime_s = page_lifetime_s
        self.epoch = 0

    def expire_all(self) -> None:
        self.epoch += 1

    def start(
        self,
        select: tuple[str, ...] | None,
        since_seq: int = 0,
        ids: tuple[str, ...] | None = None,
    ) -> DeltaState:
        return DeltaState(
            since_seq=since_seq,
            cursor_seq=since_seq,
            until_seq=None,
            select=select,
            initial=since_seq == 0,
            issued_at_s=self._clock.now(),
            epoch=self.epoch,
            ids=ids,
        )

    def encode(self, state: DeltaState) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(state.to_json()).encode()).rstrip(b"=")
        return f"{payload.decode()}.{self._mac(payload)}"

    def decode(self, token: str) -> DeltaState:
        payload, _, mac = token.partition(".")
        if not hmac.compare_digest(mac, self._mac(payload.encode())):
            raise sync_state_not_found()
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            state = DeltaState.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            raise sync_state_not_found() from exc
        age_s = self._clock.now() - state.issued_at_s
        if age_s > self.lifetime_s or state.epoch != self.epoch:
            raise sync_state_not_found()
        mid_round = state.until_seq is not None
        if mid_round and self.page_lifetime_s is not None and age_s > self.page_lifetime_s:
            raise expired_page_token()
        return state

    def _mac(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class DeltaPage:
    items: list[dict[str, Any]]
    next_state: DeltaState
    round_done: bool  # True: next_state belongs in a deltaLink


def read_page(
    directory: Directory, state: DeltaState, page_size: int, *, minimal: bool, now_s: float
) -> DeltaPage:
    until = directory.visible_seq() if state.until_seq is None else state.until_seq
    items: list[dict[str, Any]] = []
    cursor = state.cursor_seq
    for seq, user_id in _entries(directory, state):
        if seq > until:
            break
        if len(items) >= page_size:
            # A skip token's life starts when its page is served.
            next_state = replace(state, cursor_seq=cursor, until_seq=until, issued_at_s=now_s)
            return DeltaPage(items, next_state, False)
        cursor = seq
        record = directory.records[user_id]
        if record.seq != seq:
            continue  # the user changed again later; its newer entry speaks for it
        item = _item(record, state, minimal)
        if item is not None:
            items.append(item)
    done = replace(
        state, since_seq=until, cursor_seq=until, until_seq=None, initial=False, issued_at_s=now_s
    )
    return DeltaPage(items, done, True)


def _entries(directory: Directory, state: DeltaState) -> Iterator[tuple[int, str]]:
    if state.ids is None:
        return directory.log_after(state.cursor_seq)
    # `$filter=id eq …`: at most 50 users, so look at them directly.
    records = (directory.records.get(user_id) for user_id in state.ids)
    return iter(sorted((r.seq, r.id) for r in records if r and r.seq > state.cursor_seq))


def _item(record: UserRecord, state: DeltaState, minimal: bool) -> dict[str, Any] | None:
    if record.state != ACTIVE:
        if state.initial:
            return None  # a full round lists the users that exist now
        reason = "deleted" if record.state == HARD_DELETED else "changed"
        return {"id": record.id, "@removed": {"reason": reason}}
    props = record.props
    select = state.select or _DEFAULT_SELECT
    if state.initial or record.appeared_seq > state.since_seq:
        return {name: props[name] for name in select if props[name] is not None}
    changed = [
        name for name in select if name != "id" and record.prop_seq.get(name, 0) > state.since_seq
    ]
    if not changed:
        return None
    if minimal:
        return {"id": record.id, **{name: props[name] for name in changed}}
    item = {name: props[name] for name in select if props[name] is not None}
    item.update({name: props[name] for name in changed})  # a cleared value shows as null
    return item
