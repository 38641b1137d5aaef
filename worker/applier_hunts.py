"""Hunt group membership: after a plan's writes, make each rule's hunt group hold exactly
the rule's active extensions (worker/planner/hunts.py computes who that is).

Only the first stage (`st1_ext`) is written, and only when it differs; members the PBX
refused to create are left out and renumbered creates go in under their new number.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from store import Database
from store.models import AuditEntry
from store.records import add_audit
from worker.applier import ApplyResult
from worker.errors import PermanentError
from worker.planner.actions import ActionKind, HuntTarget

log = structlog.get_logger(__name__)


class HuntWriter(Protocol):
    async def hunt_members(self, number: str) -> tuple[str, ...] | None: ...

    async def set_hunt_members(self, number: str, members: Iterable[str]) -> None: ...


@dataclass(slots=True)
class HuntResult:
    changed: list[str] = field(default_factory=list)  # hunt numbers written
    failed: list[tuple[str, str]] = field(default_factory=list)  # (hunt number, why)


def members_after(target: HuntTarget, applied: ApplyResult | None) -> tuple[str, ...]:
    """The target's members corrected by what the applier really did."""
    if applied is None:
        return target.members
    failed = {a.number for a, _ in applied.failed if a.kind is ActionKind.CREATE}
    moved = {p.number: a.number for p, a in applied.renumbered}
    out = [moved.get(n, n) for n in target.members if n not in failed]
    return tuple(sorted(dict.fromkeys(n for n in out if n), key=lambda n: (len(n), n)))


async def apply_hunts(
    db: Database,
    link_id: int,
    pbx: HuntWriter,
    targets: Iterable[HuntTarget],
    applied: ApplyResult | None,
    *,
    trigger: str,
    actor: str = "worker",
) -> HuntResult:
    result = HuntResult()
    for target in targets:
        if target.problem:
            log.info("hunt.skipped", number=target.number, rule=target.rule, why=target.problem)
            continue
        wanted = members_after(target, applied)
        try:
            current = await pbx.hunt_members(target.number)
            if current is None:
                result.failed.append((target.number, "the hunt group is gone from the PBX"))
                continue
            if set(current) == set(wanted):
                continue
            await pbx.set_hunt_members(target.number, wanted)
        except PermanentError as exc:
            result.failed.append((target.number, str(exc)))
            log.warning("hunt.failed", number=target.number, error=str(exc))
            continue
        result.changed.append(target.number)
        entry = AuditEntry(
            link_id=link_id,
            action="hunt",
            outcome="ok",
            trigger=trigger,
            actor=actor,
            number=target.number,
            before={"members": " ".join(current)},
            after={"members": " ".join(wanted)},
            reason=f"rule {target.rule}: hunt group members follow the group",
            at=time.time(),
        )
        async with db.atomic() as tx:
            await add_audit(tx, [entry])
        log.info("hunt.updated", number=target.number, rule=target.rule, members=len(wanted))
    return result
