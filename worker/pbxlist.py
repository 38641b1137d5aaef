"""Is the PBX's extension list complete? A list that suddenly shrinks is suspect.

A partial answer (a cut connection the PBX still closed cleanly, a proxy, a build that pages
`/users` or `/extensions` by default, as v70.3 does for other lists) would otherwise tell a
round that numbers were freed on the PBX: they would enter their cool-off, and bound users
whose extensions "vanished" could be given new ones. So a drop beyond a threshold is acted on
only after a second read shows the same list, and a few of the missing numbers are looked up
one by one: a number the list omits but `user_settings` still has proves the list partial.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

import structlog

from store.models import Extension
from worker.errors import PbxListIncomplete

log = structlog.get_logger("m365sync.pbxlist")

# A drop of more than this share of the cached extensions (and of more than one number)
# needs a second read before anything acts on it.
SHRINK_SHARE = 0.01
# How many of the missing numbers are looked up one by one to tell a cut list from removals.
PROBES = 3


class PbxLister(Protocol):
    async def list_extensions(self, *, with_cell: bool = True) -> list[Extension]: ...

    async def get_extension(self, number: str) -> Extension | None: ...


def suspicious_drop(cached: Collection[str], listed: Collection[str]) -> list[str]:
    """The cached numbers the list lacks, if there are more of them than a round trusts."""
    gone = sorted(set(cached) - set(listed))
    return gone if len(gone) > max(1, int(len(cached) * SHRINK_SHARE)) else []


async def complete_list(
    pbx: PbxLister, cached: Collection[str], listed: Sequence[Extension], *, with_cell: bool
) -> Sequence[Extension]:
    """`listed`, or a second read, once it is believable against the `cached` numbers;
    raises PbxListIncomplete when the drop is not confirmed."""
    gone = suspicious_drop(cached, [e.number for e in listed])
    if not gone:
        return listed
    log.warning("pbx.list_shrank", cached=len(cached), listed=len(listed))
    again = await pbx.list_extensions(with_cell=with_cell)
    numbers = {e.number for e in again}
    gone_again = suspicious_drop(cached, numbers)
    if not gone_again:
        return again
    if numbers != {e.number for e in listed}:
        raise PbxListIncomplete(
            f"the PBX listed {len(listed)} and then {len(again)} extensions"
            f" (we knew {len(cached)}): not acting on an unstable list"
        )
    for number in gone_again[:PROBES]:
        if await pbx.get_extension(number) is not None:
            raise PbxListIncomplete(
                f"the PBX list lacks {len(gone_again)} of {len(cached)} known extensions, but"
                f" extension {number} still exists: the list is partial"
            )
    log.warning("pbx.extensions_removed", count=len(gone_again), numbers=gone_again[:20])
    return again
