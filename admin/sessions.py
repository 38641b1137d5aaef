"""Server-side sessions, kept in memory: a restart signs everybody out, which is acceptable
for an admin page and keeps session secrets out of the database and its backups."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

IDLE_TIMEOUT_S = 30 * 60.0
ABSOLUTE_TIMEOUT_S = 12 * 3600.0
FLOW_TIMEOUT_S = 15 * 60.0
MAX_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who signed in: the daemon's administrator (every link) or a PBX admin (some links)."""

    username: str
    link_ids: frozenset[int] | None  # None: the daemon administrator, who sees every link
    via: str = "session"  # "session" or "token"

    @property
    def is_daemon_admin(self) -> bool:
        return self.link_ids is None

    def may_see(self, link_id: int) -> bool:
        return self.link_ids is None or link_id in self.link_ids


@dataclass(slots=True)
class PendingSetup:
    """What the Setup page retrieved but has not saved yet (the manual: tokens are kept
    only when saved)."""

    consent: str = ""  # "granted" | "declined: ..." | ""
    token_cache: str | None = None
    signed_in_as: str = ""
    verified: bool = False
    error: str = ""


@dataclass(slots=True)
class Session:
    id: str
    csrf: str
    principal: Principal
    created_at: float
    last_seen: float
    pending: dict[int, PendingSetup] = field(default_factory=dict)
    flash: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)

    def pending_for(self, link_id: int) -> PendingSetup:
        return self.pending.setdefault(link_id, PendingSetup())


@dataclass(frozen=True, slots=True)
class Flow:
    """An Admin Consent or OAuth Token round trip, found again by its `state`."""

    session_id: str
    link_id: int
    kind: str  # "consent" | "token"
    data: dict[str, Any]
    created_at: float
    # The admin page's origin the flow started from, when the callback arrives on another
    # listener (M365SYNC_ADMIN_LISTEN; see admin/listenerreturn.py).
    origin: str = ""


def new_state() -> str:
    return secrets.token_urlsafe(24)


class SessionStore:
    def __init__(
        self,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        absolute_timeout_s: float = ABSOLUTE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.absolute_timeout_s = absolute_timeout_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._flows: dict[str, Flow] = {}

    def create(self, principal: Principal) -> Session:
        self._expire()
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
            del self._sessions[oldest.id]
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            principal=principal,
            created_at=now,
            last_seen=now,
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session for this id, touched; None when unknown or expired."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        idle = now - session.last_seen > self.idle_timeout_s
        if idle or now - session.created_at > self.absolute_timeout_s:
            self.drop(session_id)
            return None
        session.last_seen = now
        return session

    def drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        for state in [s for s, f in self._flows.items() if f.session_id == session_id]:
            del self._flows[state]

    def put_flow(
        self,
        state: str,
        session: Session,
        link_id: int,
        kind: str,
        data: dict[str, Any],
        origin: str = "",
    ) -> None:
        """Remember a round trip to Microsoft under its one-time `state` (see new_state)."""
        self._flows[state] = Flow(session.id, link_id, kind, data, self._clock(), origin)

    def take_flow(self, state: str) -> tuple[Flow, Session] | None:
        """The flow and its still-live session; a flow is used once."""
        flow = self._flows.pop(state, None)
        if flow is None or self._clock() - flow.created_at > FLOW_TIMEOUT_S:
            return None
        session = self.get(flow.session_id)
        return None if session is None else (flow, session)

    def _expire(self) -> None:
        now = self._clock()
        for sid in [
            s.id for s in self._sessions.values() if now - s.last_seen > self.idle_timeout_s
        ]:
            self.drop(sid)
