"""Groups and their members. Members are users or other groups; transitive members
resolve nested groups (each group once, cycles tolerated)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulators.clock import Clock

from .errors import GraphError, bad_request, not_found
from .users import iso_time, project


class _Member(Protocol):
    @property
    def props(self) -> dict[str, Any]: ...

    @property
    def state(self) -> str: ...


class Members(Protocol):
    """What groups need of the directory that owns them (a protocol, so this module does
    not import directory.py, which imports it)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def records(self) -> Mapping[str, _Member]: ...

    def active_record(self, user_id: str) -> _Member: ...


GROUP_PROPERTIES = (
    "id",
    "displayName",
    "description",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "groupTypes",
    "createdDateTime",
)
_MEMBER_EXISTS = (
    "One or more added object references already exist for the following modified "
    "properties: 'members'."
)


@dataclass(slots=True)
class Group:
    props: dict[str, Any]
    members: dict[str, None] = field(default_factory=dict)  # insertion-ordered set


class Groups:
    def __init__(self, directory: Members) -> None:
        self._directory = directory
        self.by_id: dict[str, Group] = {}

    def create(self, props: dict[str, Any], group_id: str | None = None) -> dict[str, Any]:
        name = props.get("displayName")
        if not isinstance(name, str) or not name:
            raise bad_request(
                "Invalid value specified for property 'displayName' of resource 'Group'."
            )
        unknown = set(props) - set(GROUP_PROPERTIES) - {"@odata.type", "members@odata.bind"}
        if unknown or "id" in props:
            raise bad_request(f"Invalid property '{sorted(unknown or {'id'})[0]}'.")
        group_id = group_id or str(uuid.uuid4())
        record: dict[str, Any] = dict.fromkeys(GROUP_PROPERTIES)
        record.update(
            id=group_id,
            groupTypes=[],
            mailEnabled=False,
            securityEnabled=True,
            createdDateTime=iso_time(self._directory.clock.now()),
        )
        record.update({k: v for k, v in props.items() if k in GROUP_PROPERTIES})
        self.by_id[group_id] = Group(props=record)
        return dict(record)

    def get(self, group_id: str) -> Group:
        group = self.by_id.get(group_id)
        if group is None:
            raise not_found(group_id)
        return group

    def ids(self) -> list[str]:
        return sorted(self.by_id)

    def add_member(self, group_id: str, member_id: str) -> None:
        group = self.get(group_id)
        if member_id not in self.by_id:
            self._directory.active_record(member_id)
        if member_id == group_id:
            raise bad_request("A group cannot be a member of itself.")
        if member_id in group.members:
            raise bad_request(_MEMBER_EXISTS)
        group.members[member_id] = None

    def remove_member(self, group_id: str, member_id: str) -> None:
        group = self.get(group_id)
        if member_id not in group.members:
            raise GraphError(
                404, "Request_ResourceNotFound", f"Resource '{member_id}' does not exist."
            )
        del group.members[member_id]

    def forget_member(self, user_id: str) -> None:
        for group in self.by_id.values():
            group.members.pop(user_id, None)

    def direct_members(self, group_id: str) -> list[str]:
        return [m for m in self.get(group_id).members if self._is_visible(m)]

    def transitive_members(self, group_id: str) -> list[str]:
        seen_groups = {group_id}
        result: dict[str, None] = {}
        pending = [group_id]
        while pending:
            for member in self.get(pending.pop(0)).members:
                if not self._is_visible(member):
                    continue
                result[member] = None
                if member in self.by_id and member not in seen_groups:
                    seen_groups.add(member)
                    pending.append(member)
        result.pop(group_id, None)
        return list(result)

    def _is_visible(self, member_id: str) -> bool:
        if member_id in self.by_id:
            return True
        record = self._directory.records.get(member_id)
        # Soft-deleted users keep their memberships (a restore brings them back) but
        # are not listed meanwhile.
        return record is not None and record.state == "active"

    def member_object(self, member_id: str, select: tuple[str, ...] | None) -> dict[str, Any]:
        group = self.by_id.get(member_id)
        if group is not None:
            return {"@odata.type": "#microsoft.graph.group", **group.props}
        props = self._directory.records[member_id].props
        return {"@odata.type": "#microsoft.graph.user", **project(props, select)}
