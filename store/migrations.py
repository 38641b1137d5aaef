"""Named migrations, each applied in the same transaction as its record.

Append new migrations to MIGRATIONS; never edit or reorder an applied one. One list of
named steps serves both backends: a step is SQLite DDL, which `postgres_ddl()` turns into
PostgreSQL's (types only), unless the step gives PostgreSQL's text itself in
POSTGRES_OVERRIDES (a step SQLite can only do by copying a table). PostgreSQL applies
them in `store.pg`, under an advisory lock.
"""

from __future__ import annotations

import re
import time

import aiosqlite

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value BLOB NOT NULL
        );
        CREATE TABLE links (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            tenant_id TEXT NOT NULL,
            client_id TEXT NOT NULL,
            auth_mode TEXT NOT NULL CHECK (auth_mode IN ('application', 'delegated')),
            authority_url TEXT NOT NULL,
            graph_url TEXT NOT NULL,
            pbx_url TEXT NOT NULL,
            pbx_domain TEXT NOT NULL,
            pbx_user TEXT NOT NULL,
            ca_bundle TEXT,
            settings TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL DEFAULT 'setup_required',
            state_reason TEXT NOT NULL DEFAULT 'not set up yet',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE secrets (
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            ciphertext BLOB NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (link_id, name)
        );
        CREATE TABLE token_caches (
            link_id INTEGER PRIMARY KEY REFERENCES links(id) ON DELETE CASCADE,
            ciphertext BLOB NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE subscriptions (
            id TEXT PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            resource TEXT NOT NULL,
            client_state_hash BLOB NOT NULL,
            notification_url TEXT NOT NULL,
            expires_at REAL NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX subscriptions_link ON subscriptions(link_id);
        CREATE TABLE delta_state (
            link_id INTEGER PRIMARY KEY REFERENCES links(id) ON DELETE CASCADE,
            delta_link TEXT,
            updated_at REAL NOT NULL
        );
        CREATE TABLE directory_users (
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            data TEXT NOT NULL,
            removed TEXT,
            updated_at REAL NOT NULL,
            PRIMARY KEY (link_id, id)
        ) WITHOUT ROWID;
        CREATE TABLE extensions (
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            number TEXT NOT NULL,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            email TEXT NOT NULL,
            cell TEXT NOT NULL,
            disabled INTEGER NOT NULL,
            seen_at REAL NOT NULL,
            PRIMARY KEY (link_id, number)
        ) WITHOUT ROWID;
        CREATE TABLE bindings (
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            number TEXT NOT NULL,
            disabled_by_us INTEGER NOT NULL DEFAULT 0,
            bound_at REAL NOT NULL,
            PRIMARY KEY (link_id, user_id),
            UNIQUE (link_id, number)
        ) WITHOUT ROWID;
        CREATE TABLE released_numbers (
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            number TEXT NOT NULL,
            released_at REAL NOT NULL,
            PRIMARY KEY (link_id, number)
        ) WITHOUT ROWID;
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            user_id TEXT,
            payload TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'claimed', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            due_at REAL NOT NULL,
            lease_until REAL,
            claimed_by TEXT,
            last_error TEXT,
            created_at REAL NOT NULL,
            done_at REAL
        );
        CREATE INDEX events_due ON events(link_id, status, due_at);
        CREATE INDEX events_status ON events(status, due_at);
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            trigger TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            user_id TEXT,
            number TEXT,
            before TEXT NOT NULL DEFAULT '{}',
            after TEXT NOT NULL DEFAULT '{}',
            reason TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_link_at ON audit(link_id, at);
        CREATE TABLE held_actions (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            action TEXT NOT NULL,
            reason TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'held'
                CHECK (status IN ('held', 'approved', 'rejected', 'applied')),
            created_at REAL NOT NULL,
            decided_by TEXT,
            decided_at REAL
        );
        CREATE INDEX held_link_status ON held_actions(link_id, status);
        CREATE TABLE rounds (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL,
            outcome TEXT NOT NULL,
            stats TEXT NOT NULL DEFAULT '{}',
            error TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX rounds_link ON rounds(link_id, kind, finished_at);
        """,
    ),
    (
        "0002_link_leases",
        """
        CREATE TABLE link_leases (
            link_id INTEGER PRIMARY KEY REFERENCES links(id) ON DELETE CASCADE,
            owner TEXT NOT NULL,
            until REAL NOT NULL
        );
        """,
    ),
    (
        "0003_alerts_sent",
        """
        CREATE TABLE alerts_sent (
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            subject TEXT NOT NULL,
            recipients INTEGER NOT NULL,
            sent_at REAL NOT NULL,
            PRIMARY KEY (link_id, kind, key)
        ) WITHOUT ROWID;
        """,
    ),
    (
        # Who holds a link's lease and who waits for it (issue 11): a restarted daemon
        # takes back a dead holder's lease, and `status` can say why a link waits.
        "0004_lease_holders",
        """
        ALTER TABLE link_leases ADD COLUMN host TEXT;
        ALTER TABLE link_leases ADD COLUMN host_key TEXT;
        ALTER TABLE link_leases ADD COLUMN pid INTEGER;
        ALTER TABLE link_leases ADD COLUMN pid_start INTEGER;
        ALTER TABLE link_leases ADD COLUMN beat_s REAL;
        ALTER TABLE link_leases ADD COLUMN beat_at REAL;
        ALTER TABLE link_leases ADD COLUMN waiter TEXT;
        ALTER TABLE link_leases ADD COLUMN waiting_since REAL;
        """,
    ),
    (
        # An extension is held at most once (the unique index), whatever the message of the
        # plan that held it; 'withdrawn' is a held disable whose user came back before an
        # admin decided. Rows held twice before this migration keep their oldest copy.
        # SQLite cannot change a CHECK constraint in place, hence the copy.
        "0005_held_once",
        """
        CREATE TABLE held_actions_new (
            id INTEGER PRIMARY KEY,
            link_id INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
            action TEXT NOT NULL,
            reason TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'held'
                CHECK (status IN ('held', 'approved', 'rejected', 'applied', 'withdrawn')),
            created_at REAL NOT NULL,
            decided_by TEXT,
            decided_at REAL,
            number TEXT,
            user_id TEXT
        );
        INSERT INTO held_actions_new (id, link_id, action, reason, status, created_at,
            decided_by, decided_at, number, user_id)
            SELECT id, link_id, action, reason, status, created_at, decided_by, decided_at,
                json_extract(action, '$.number'), json_extract(action, '$.user_id')
            FROM held_actions;
        DROP TABLE held_actions;
        ALTER TABLE held_actions_new RENAME TO held_actions;
        UPDATE held_actions SET status = 'withdrawn', decided_by = 'migration',
            decided_at = CAST(strftime('%s', 'now') AS REAL)
            WHERE status = 'held' AND id NOT IN (
                SELECT MIN(id) FROM held_actions WHERE status = 'held' GROUP BY link_id, number
            );
        CREATE INDEX held_link_status ON held_actions(link_id, status);
        CREATE UNIQUE INDEX held_once ON held_actions(link_id, number) WHERE status = 'held';
        """,
    ),
    (
        # The admin page's sessions, its OAuth round trips and its sign-in limits, shared by
        # every instance on this database (issue 16). Only hashes of the session token and
        # of the flow's `state` are kept; CSRF secrets, pending setup (token caches) and the
        # MSAL flow (PKCE verifier) are SecretBox ciphertext. Plain portable SQL.
        "0006_admin_state",
        """
        CREATE TABLE admin_sessions (
            id_hash TEXT PRIMARY KEY,
            csrf BLOB NOT NULL,
            username TEXT NOT NULL,
            link_ids TEXT,
            created_at REAL NOT NULL,
            last_seen REAL NOT NULL,
            pending BLOB,
            flash TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX admin_sessions_last_seen ON admin_sessions(last_seen);
        CREATE INDEX admin_sessions_created ON admin_sessions(created_at);
        CREATE TABLE admin_flows (
            state_hash TEXT PRIMARY KEY,
            session_hash TEXT NOT NULL REFERENCES admin_sessions(id_hash) ON DELETE CASCADE,
            link_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            data BLOB NOT NULL,
            created_at REAL NOT NULL,
            origin TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX admin_flows_session ON admin_flows(session_hash);
        CREATE INDEX admin_flows_created ON admin_flows(created_at);
        CREATE TABLE signin_failures (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('address', 'account')),
            key_hash TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX signin_failures_key ON signin_failures(scope, key_hash, at);
        CREATE INDEX signin_failures_at ON signin_failures(at);
        """,
    ),
]


# Steps whose PostgreSQL text is not the SQLite text with its types changed.
POSTGRES_OVERRIDES: dict[str, str] = {
    # PostgreSQL changes a CHECK constraint and adds columns in place.
    "0005_held_once": """
        ALTER TABLE held_actions DROP CONSTRAINT held_actions_status_check;
        ALTER TABLE held_actions ADD CONSTRAINT held_actions_status_check
            CHECK (status IN ('held', 'approved', 'rejected', 'applied', 'withdrawn'));
        ALTER TABLE held_actions ADD COLUMN number TEXT;
        ALTER TABLE held_actions ADD COLUMN user_id TEXT;
        UPDATE held_actions SET number = action::jsonb ->> 'number',
            user_id = action::jsonb ->> 'user_id';
        UPDATE held_actions SET status = 'withdrawn', decided_by = 'migration',
            decided_at = EXTRACT(EPOCH FROM now())
            WHERE status = 'held' AND id NOT IN (
                SELECT MIN(id) FROM held_actions WHERE status = 'held' GROUP BY link_id, number
            );
        CREATE UNIQUE INDEX held_once ON held_actions(link_id, number) WHERE status = 'held';
    """,
}

_PG_TYPES = [
    # REAL is a 4-byte float in PostgreSQL: our timestamps need 8.
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\)\s*WITHOUT ROWID"), ")"),
]


def postgres_ddl(name: str, sqlite_sql: str) -> str:
    """The PostgreSQL text of one named step."""
    if name in POSTGRES_OVERRIDES:
        return POSTGRES_OVERRIDES[name]
    sql = sqlite_sql
    for pattern, replacement in _PG_TYPES:
        sql = pattern.sub(replacement, sql)
    return sql


def statements(sql: str) -> list[str]:
    # executescript() would COMMIT the open transaction first, so split instead;
    # the schema has no semicolons inside literals.
    return [s.strip() for s in sql.split(";") if s.strip()]


async def apply_migrations(conn: aiosqlite.Connection) -> list[str]:
    """Apply pending migrations in order; returns the names applied now."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    applied_now: list[str] = []
    for name, sql in MIGRATIONS:
        # BEGIN IMMEDIATE first, then the check: two processes starting at once
        # must not both decide a migration is pending.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)) as cur:
                done = await cur.fetchone() is not None
            if not done:
                for statement in statements(sql):
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, time.time())
                )
                applied_now.append(name)
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
    return applied_now
