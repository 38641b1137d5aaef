"""Who holds a lease, and whether that holder can be shown to be dead.

A lease row records its holder's process: host name (for people), a host key (Linux boot id
plus pid namespace: two processes with the same key see the same pids), pid, and the
process's start time in clock ticks since boot, so a pid the kernel handed out again is not
mistaken for the holder. A holder on this host whose pid is gone, a zombie, or another
process now, is dead. A holder elsewhere can only be judged by its heartbeat: one older
than `STALE_BEATS` of its own intervals is taken as dead. Anything else (a live process
here, a recent heartbeat there, a row without identity) keeps its lease until it runs out.
"""

from __future__ import annotations

import enum
import functools
import os
import socket
from pathlib import Path

from store.leases import LeaseHolder, LeaseRow

# A holder that missed this many heartbeats in a row is not running any more.
STALE_BEATS = 4

_PROC = Path("/proc")


class Verdict(enum.Enum):
    ALIVE = "alive"  # a live process on this host, or a recent heartbeat from elsewhere
    UNKNOWN = "unknown"  # nothing proves it dead: its lease runs its course
    GONE = "gone"  # same host, the pid is no longer that process
    STALE = "stale"  # another host, heartbeat too old

    @property
    def dead(self) -> bool:
        return self in (Verdict.GONE, Verdict.STALE)


@functools.cache
def host_key() -> str:
    """The boot and pid namespace of this process; empty where /proc cannot tell."""
    try:
        boot = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{namespace}"


def start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot); None if it is gone or a zombie."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces and ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])
    except ValueError:
        return None


def this_process(beat_s: float | None = None) -> LeaseHolder:
    """This process as a lease holder; `beat_s` if it renews its lease on a heartbeat."""
    pid = os.getpid()
    return LeaseHolder(
        host=socket.gethostname(),
        host_key=host_key(),
        pid=pid,
        pid_start=start_ticks(pid) if host_key() else None,
        beat_s=beat_s,
    )


def judge(row: LeaseRow, now: float) -> Verdict:
    """Whether the holder of `row` is provably dead, as seen from this process."""
    holder = row.holder
    if holder is None:
        return Verdict.UNKNOWN
    if holder.host_key and holder.host_key == host_key() and holder.pid_start is not None:
        return Verdict.ALIVE if start_ticks(holder.pid) == holder.pid_start else Verdict.GONE
    if holder.beat_s is not None and row.beat_at is not None:
        if now - row.beat_at > STALE_BEATS * holder.beat_s:
            return Verdict.STALE
        return Verdict.ALIVE
    return Verdict.UNKNOWN
