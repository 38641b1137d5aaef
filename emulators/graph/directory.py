"""The emulated directory: users (active, soft-deleted, hard-deleted tombstones),
groups, and the change log that delta queries and notifications read.

Every change takes the next sequence number. A user remembers the sequence of its
last change and of each property's last change, and the log lists (seq, user id) in
order, so a delta round from sequence S reads only the log after S.
"""

from __future__ import annotations

import bisect
import json
import uuid
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emulators.clock import Clock

from .errors import bad_request, not_found
from .groups import Groups
from .seeding import SeedResult, seed_directory
from .users import (
    EXTENSION_ATTRIBUTES,
    blank_user,
    check_user_body,
    iso_time,
    merged_attributes,
    project,
)

ChangeListener = Callable[[str, str], None]  # (user id, "updated" | "deleted")

ACTIVE, SOFT_DELETED, HARD_DELETED = "active", "softDeleted", "hardDeleted"
_UPN_TAKEN = "Another object with the same value for property userPrincipalName already exists."


@dataclass(slots=True)
class UserRecord:
    props: dict[str, Any]
    seq: int = 0
    appeared_seq: int = 0  # created or restored: delta shows it whole
    prop_seq: dict[str, int] = field(default_factory=dict)
    state: str = ACTIVE
    deleted_at_s: float = 0.0
    # Serialized projections by $select, dropped on every change: listing pages of
    # 100-999 users is then mostly string joins.
    json_cache: dict[tuple[str, ...] | None, str] = field(default_factory=dict)

    def projected_json(self, select: tuple[str, ...] | None) -> str:
        cached = self.json_cache.get(select)
        if cached is None:
            cached = self.json_cache[select] = json.dumps(project(self.props, select))
        return cached

    @property
    def id(self) -> str:
        return str(self.props["id"])


class Directory:
    def __init__(self, clock: Clock, domain: str = "contoso.example") -> None:
        self.clock = clock
        self.domain = domain
        self.records: dict[str, UserRecord] = {}
        self.groups = Groups(self)
        self.seq = 0
        self.listeners: list[ChangeListener] = []
        self._by_upn: dict[str, str] = {}
        self._active_sorted: list[str] = []
        self._active_dirty = False
        self._log_seqs: list[int] = []
        self._log_ids: list[str] = []
        # When each sequence number happened (index seq - 1), for replication lag.
        self._seq_times = array("d")
        self.replication_lag_s = 0.0

    # -- reads ---------------------------------------------------------------

    def active_record(self, user_id: str) -> UserRecord:
        record = self.records.get(user_id)
        if record is None or record.state != ACTIVE:
            raise not_found(user_id)
        return record

    def deleted_record(self, user_id: str) -> UserRecord:
        record = self.records.get(user_id)
        if record is None or record.state != SOFT_DELETED:
            raise not_found(user_id)
        return record

    def resolve(self, id_or_upn: str) -> str:
        """Graph accepts a user's id or its userPrincipalName in the path."""
        if id_or_upn in self.records or "@" not in id_or_upn:
            return id_or_upn
        return self._by_upn.get(id_or_upn.lower(), id_or_upn)

    def get_user(self, user_id: str) -> dict[str, Any]:
        return dict(self.active_record(user_id).props)

    def active_ids(self) -> list[str]:
        """Active user ids in a stable order (by id) for paging; sorted lazily."""
        if self._active_dirty:
            self._active_sorted.sort()
            self._active_dirty = False
        return self._active_sorted

    def page_after(self, after_id: str | None, size: int) -> tuple[list[str], bool]:
        ids = self.active_ids()
        start = 0 if after_id is None else bisect.bisect_right(ids, after_id)
        page = ids[start : start + size]
        return page, start + size < len(ids)

    def page_matching(
        self, predicate: Callable[[dict[str, Any]], bool], after_id: str | None, size: int
    ) -> tuple[list[str], bool]:
        """Like `page_after`, over the users a `$filter` keeps (a scan: filters are rare)."""
        ids = self.active_ids()
        start = 0 if after_id is None else bisect.bisect_right(ids, after_id)
        page: list[str] = []
        for user_id in ids[start:]:
            if predicate(self.records[user_id].props):
                if len(page) == size:
                    return page, True
                page.append(user_id)
        return page, False

    def deleted_ids(self) -> list[str]:
        return sorted(uid for uid, rec in self.records.items() if rec.state == SOFT_DELETED)

    def visible_seq(self) -> int:
        """The last change delta can see: with replication lag, recent ones show up late."""
        if self.replication_lag_s <= 0:
            return self.seq
        return bisect.bisect_right(self._seq_times, self.clock.now() - self.replication_lag_s)

    @property
    def change_log_length(self) -> int:
        return len(self._log_seqs)

    @property
    def user_count(self) -> int:
        return len(self._active_sorted)

    def log_after(self, seq: int) -> Iterator[tuple[int, str]]:
        """(seq, user id) entries after `seq`; stale ones (user changed again) included."""
        start = bisect.bisect_right(self._log_seqs, seq)
        for index in range(start, len(self._log_seqs)):
            yield self._log_seqs[index], self._log_ids[index]

    # -- writes --------------------------------------------------------------

    def create_user(self, /, **props: Any) -> dict[str, Any]:
        return self.insert_user(str(uuid.uuid4()), props)

    def insert_user(
        self, user_id: str, props: dict[str, Any], *, validated: bool = False
    ) -> dict[str, Any]:
        """Create a user with a chosen id (seeding needs them deterministic and, having
        built the properties itself, skips the checks with `validated`)."""
        changes = props if validated else check_user_body(props, creating=True)
        if not changes.get("mailNickname"):
            changes["mailNickname"] = str(changes["userPrincipalName"]).split("@")[0]
        upn_key = str(changes["userPrincipalName"]).lower()
        if upn_key in self._by_upn:
            raise bad_request(_UPN_TAKEN)
        props = blank_user(user_id, iso_time(self.clock.now()))
        if EXTENSION_ATTRIBUTES in changes:
            changes = {
                **changes,
                EXTENSION_ATTRIBUTES: merged_attributes(
                    props[EXTENSION_ATTRIBUTES], changes[EXTENSION_ATTRIBUTES]
                ),
            }
        props.update(changes)
        record = UserRecord(props=props)
        self.records[user_id] = record
        self._by_upn[upn_key] = user_id
        self._add_active(user_id)
        # appeared_seq stands for every property: delta shows a new user whole.
        record.appeared_seq = self._bump(record, ())
        self._notify(user_id, "updated")
        return dict(props)

    def update_user(self, user_id: str, /, **props: Any) -> dict[str, Any]:
        record = self.active_record(user_id)
        changes = check_user_body(props, creating=False)
        new_upn = changes.get("userPrincipalName")
        old_upn = str(record.props["userPrincipalName"])
        if new_upn is not None and new_upn.lower() != old_upn.lower():
            if new_upn.lower() in self._by_upn:
                raise bad_request(_UPN_TAKEN)
            del self._by_upn[old_upn.lower()]
            self._by_upn[new_upn.lower()] = user_id
        if EXTENSION_ATTRIBUTES in changes:
            changes[EXTENSION_ATTRIBUTES] = merged_attributes(
                record.props.get(EXTENSION_ATTRIBUTES), changes[EXTENSION_ATTRIBUTES]
            )
        changed = [name for name, value in changes.items() if record.props.get(name) != value]
        if changed:
            record.props.update(changes)
            self._bump(record, changed)
            self._notify(user_id, "updated")
        return dict(record.props)

    def touch_user(self, user_id: str) -> None:
        """A change to a property the emulator does not model (a password change, sign-in
        activity, a licence): Graph notifies `updated` for it, but no delta with our
        $select (or any modelled property) shows the user (delta-query-users.md: "$select
        limits tracking"; notifications are per resource, not per property)."""
        self.active_record(user_id)
        self._notify(user_id, "updated")

    def soft_delete_user(self, user_id: str) -> None:
        record = self.active_record(user_id)
        record.state = SOFT_DELETED
        record.deleted_at_s = self.clock.now()
        record.props["deletedDateTime"] = iso_time(record.deleted_at_s)
        self._remove_active(user_id)
        self._bump(record, ())
        self._notify(user_id, "updated")

    def restore_user(self, user_id: str) -> dict[str, Any]:
        record = self.deleted_record(user_id)
        record.state = ACTIVE
        record.props["deletedDateTime"] = None
        self._add_active(user_id)
        record.appeared_seq = self._bump(record, ("deletedDateTime",))
        self._notify(user_id, "updated")
        return dict(record.props)

    def hard_delete_user(self, user_id: str) -> None:
        """Permanently delete a soft-deleted user (or an active one, skipping the bin)."""
        record = self.records.get(user_id)
        if record is None or record.state == HARD_DELETED:
            raise not_found(user_id)
        if record.state == ACTIVE:
            self._remove_active(user_id)
        record.state = HARD_DELETED
        self._by_upn.pop(str(record.props["userPrincipalName"]).lower(), None)
        self.groups.forget_member(user_id)
        self._bump(record, ())
        self._notify(user_id, "deleted")

    def seed(self, n: int, seed: int = 1) -> SeedResult:
        """Add `n` deterministic users (and the standard groups); see `seeding.py`."""
        return seed_directory(self, n, seed, self.domain)

    def purge_expired_deleted(self, retention_s: float = 30 * 86400) -> int:
        """Hard-delete users soft-deleted longer ago than the recycle bin keeps them."""
        cutoff = self.clock.now() - retention_s
        expired = [
            uid
            for uid, rec in self.records.items()
            if rec.state == SOFT_DELETED and rec.deleted_at_s < cutoff
        ]
        for uid in expired:
            self.hard_delete_user(uid)
        return len(expired)

    # -- internals -----------------------------------------------------------

    def _bump(self, record: UserRecord, changed: Any) -> int:
        record.json_cache.clear()
        self.seq += 1
        self._seq_times.append(self.clock.now())
        record.seq = self.seq
        for name in changed:
            record.prop_seq[name] = self.seq
        self._log_seqs.append(self.seq)
        self._log_ids.append(record.id)
        if len(self._log_seqs) > 2 * len(self.records) + 1024:
            self._compact_log()
        return self.seq

    def _compact_log(self) -> None:
        # Only each user's latest entry matters to a delta round; drop the rest.
        latest = sorted((rec.seq, uid) for uid, rec in self.records.items())
        self._log_seqs = [seq for seq, _ in latest]
        self._log_ids = [uid for _, uid in latest]

    def _add_active(self, user_id: str) -> None:
        self._active_sorted.append(user_id)
        self._active_dirty = True

    def _remove_active(self, user_id: str) -> None:
        ids = self.active_ids()
        index = bisect.bisect_left(ids, user_id)
        if index < len(ids) and ids[index] == user_id:
            del ids[index]

    def _notify(self, user_id: str, change_type: str) -> None:
        for listener in self.listeners:
            listener(user_id, change_type)
