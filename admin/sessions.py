"""Server-side sessions in the database (store.admin_sessions): a sign-in on one instance is
valid on every instance on the same database, and a restart signs nobody out. The cookie
carries the session token; the database only its SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from store import Database
from store import admin_sessions as rows

IDLE_TIMEOUT_S = 30 * 60.0
ABSOLUTE_TIMEOUT_S = 12 * 3600.0
FLOW_TIMEOUT_S = 15 * 60.0
MAX_SESSIONS = 10_000
MAX_FLASHES = 20
# last_seen is written at most this often (and at least ten times per idle timeout), so
# a page load is not a write transaction; idle expiry is therefore this much early at worst.
TOUCH_EVERY_S = 60.0


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
    # The choices made on the form before Admin Consent / OAuth Token left for Microsoft:
    # drawn again on the way back, so the manual's mode survives both redirects.
    mode: str = ""  # "delegated" | "application" | "" (not chosen yet: the stored mode)
    scope: str = ""
    group_ids: str = ""
    auto_create: bool | None = None


@dataclass(slots=True)
class Session:
    """One request's view of a session. Handlers change `pending` and the flashes in memory;
    `SessionStore.save` merges the changes into the database (the guard does it after every
    console request, the callbacks themselves)."""

    id: str  # the token from the cookie ("" when found by hash); only its hash is stored
    id_hash: str
    csrf: str
    principal: Principal
    created_at: float
    last_seen: float
    pending: dict[int, PendingSetup] = field(default_factory=dict)
    flash: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    _loaded_pending: dict[int, PendingSetup] = field(default_factory=dict, repr=False)
    _shown: list[tuple[str, str]] = field(default_factory=list, repr=False)
    _added: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def pending_for(self, link_id: int) -> PendingSetup:
        return self.pending.setdefault(link_id, PendingSetup())

    def add_flash(self, kind: str, message: str) -> None:
        self.flash.append((kind, message))
        self._added.append((kind, message))

    def take_flashes(self) -> list[tuple[str, str]]:
        """The messages to show now; shown ones leave the session when it is saved."""
        taken = self.flash[:]
        self._shown += [f for f in taken if f not in self._added]
        self._added = [f for f in self._added if f not in taken]
        self.flash.clear()
        return taken

    def _merge(
        self, pending: rows.PendingData, flash: rows.FlashData
    ) -> tuple[rows.PendingData, rows.FlashData]:
        for link_id in set(self.pending) | set(self._loaded_pending):
            mine = self.pending.get(link_id)
            if mine == self._loaded_pending.get(link_id):
                continue  # unchanged here: keep what another request may have written
            if mine is None:
                pending.pop(str(link_id), None)
            else:
                pending[str(link_id)] = asdict(mine)
        kept = list(flash)
        for shown in self._shown:
            if shown in kept:
                kept.remove(shown)
        return pending, (kept + self._added)[-MAX_FLASHES:]

    def _changed(self) -> bool:
        return bool(self._shown or self._added) or self.pending != self._loaded_pending

    def _saved(self) -> None:
        self._loaded_pending = {k: replace(v) for k, v in self.pending.items()}
        self._shown, self._added = [], []


@dataclass(frozen=True, slots=True)
class Flow:
    """An Admin Consent or OAuth Token round trip, found again by its `state`."""

    session_id: str  # the hash of the session's token
    link_id: int
    kind: str  # "consent" | "token"
    data: dict[str, Any]
    created_at: float
    # The admin page's origin the flow started from, when the callback arrives on another
    # listener (M365SYNC_ADMIN_LISTEN; see admin/listenerreturn.py).
    origin: str = ""


def new_state() -> str:
    return secrets.token_urlsafe(24)


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Sessions and flows in the database; the timeouts and the clock (wall time: it is
    compared across processes and restarts) are this object's."""

    def __init__(
        self,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        absolute_timeout_s: float = ABSOLUTE_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.absolute_timeout_s = absolute_timeout_s
        self._clock = clock
        self._touch_every_s = min(TOUCH_EVERY_S, idle_timeout_s / 10)

    async def create(self, db: Database, principal: Principal) -> Session:
        now = self._clock()
        token = secrets.token_urlsafe(32)
        session = Session(
            id=token,
            id_hash=session_hash(token),
            csrf=secrets.token_urlsafe(32),
            principal=principal,
            created_at=now,
            last_seen=now,
        )
        await rows.create_session(
            db,
            id_hash=session.id_hash,
            csrf=session.csrf,
            username=principal.username,
            link_ids=principal.link_ids,
            now=now,
            expired_before=self._expired_before(now),
            max_sessions=MAX_SESSIONS,
        )
        return session

    async def get(self, db: Database, session_id: str) -> Session | None:
        """The live session for this token, touched; None when unknown or expired."""
        if not session_id:
            return None
        now = self._clock()
        idle_before, absolute_before = self._expired_before(now)
        stored = await rows.load_session(
            db, session_hash(session_id), idle_before=idle_before, absolute_before=absolute_before
        )
        if stored is None:
            return None
        if now - stored.last_seen >= self._touch_every_s:
            await rows.touch_session(db, stored.id_hash, now)
        return _session(stored, session_id, now)

    async def save(self, db: Database, session: Session) -> None:
        """Write what this request changed in the session's pending setup and flashes."""
        if session._changed():
            await rows.update_session_state(db, session.id_hash, session._merge)
            session._saved()

    async def drop(self, db: Database, session_id: str) -> None:
        await rows.delete_session(db, session_hash(session_id))

    async def put_flow(
        self,
        db: Database,
        state: str,
        session: Session,
        link_id: int,
        kind: str,
        data: dict[str, Any],
        origin: str = "",
    ) -> None:
        """Remember a round trip to Microsoft under its one-time `state` (see new_state)."""
        now = self._clock()
        await rows.put_flow(
            db,
            state_hash=session_hash(state),
            session_hash=session.id_hash,
            link_id=link_id,
            kind=kind,
            data=data,
            origin=origin,
            now=now,
            expired_before=now - FLOW_TIMEOUT_S,
        )

    async def take_flow(self, db: Database, state: str) -> tuple[Flow, Session] | None:
        """The flow and its still-live session; a flow is used once, on any instance. The
        session is found by its hash, so the Session returned has no token (`id` is empty):
        it can be saved, not given out as a cookie."""
        if not state:
            return None
        stored = await rows.take_flow(
            db, session_hash(state), created_after=self._clock() - FLOW_TIMEOUT_S
        )
        if stored is None:
            return None
        session = await self._by_hash(db, stored.session_hash)
        if session is None:
            return None
        flow = Flow(
            stored.session_hash,
            stored.link_id,
            stored.kind,
            stored.data,
            stored.created_at,
            stored.origin,
        )
        return flow, session

    async def _by_hash(self, db: Database, id_hash: str) -> Session | None:
        idle_before, absolute_before = self._expired_before(self._clock())
        stored = await rows.load_session(
            db, id_hash, idle_before=idle_before, absolute_before=absolute_before
        )
        return None if stored is None else _session(stored, "", stored.last_seen)

    def _expired_before(self, now: float) -> tuple[float, float]:
        return now - self.idle_timeout_s, now - self.absolute_timeout_s


def _session(stored: rows.StoredSession, token: str, last_seen: float) -> Session:
    session = Session(
        id=token,
        id_hash=stored.id_hash,
        csrf=stored.csrf,
        principal=Principal(stored.username, stored.link_ids),
        created_at=stored.created_at,
        last_seen=last_seen,
        pending={int(k): _pending(v) for k, v in stored.pending.items() if k.isdigit()},
        flash=list(stored.flash),
    )
    session._saved()
    return session


def _pending(data: dict[str, Any]) -> PendingSetup:
    known = {k: v for k, v in data.items() if k in PendingSetup.__dataclass_fields__}
    return PendingSetup(**known)
