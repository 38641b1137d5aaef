"""How long the users <-> extensions view takes for 10,000 users: 8,000 linked to an
extension (with an audit row each), 2,000 waiting, 1,000 extensions with no user.

Prints the time to build the rows from the store (what an admin waits for on the first
page, and again after each write or every 5 s), a search over them, and one page as the
API serves it from the cache. Aim: the build under 1 s, a search and a page in
milliseconds. Run with `python -m bench.directory_view` (or `make bench`).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from admin.directoryview import ViewCache, search
from store import Database, SecretBox, generate_key
from store.directory import put_binding, put_directory_users, put_extensions
from store.links import get_link
from store.models import AuditEntry, AuthMode, Binding, DirectoryUser, Extension, NewLink
from store.records import add_audit
from worker.linkadmin import add_link

USERS = 10_000
LINKED = 8_000
SPARE = 1_000


def _users() -> list[DirectoryUser]:
    return [
        DirectoryUser(
            id=f"u{i:05d}",
            display_name=f"User {i} Smith" if i % 10 == 0 else f"User {i}",
            given_name="User",
            surname=str(i),
            mail=f"user{i}@contoso.example",
            user_principal_name=f"user{i}@contoso.example",
            account_enabled=True,
            user_type="Member",
            updated_at=1.0,
        )
        for i in range(USERS)
    ]


async def _seed(db: Database) -> int:
    new = NewLink(
        name="bench",
        auth_mode=AuthMode.APPLICATION,
        tenant_id="00000000-0000-0000-0000-000000000001",
        client_id="00000000-0000-0000-0000-000000000002",
        pbx_url="https://pbx.example",
        pbx_domain="pbx.example",
        pbx_user="admin",
        settings={"ranges": "10000-29999"},
    )
    link_id = (await add_link(db, new, pbx_password="bench-only")).id
    users = _users()
    linked = [
        Extension(str(10_000 + i), "User", str(i), users[i].mail or "") for i in range(LINKED)
    ]
    spare = [
        Extension(str(20_000 + i), "Spare", str(i), f"spare{i}@x.example") for i in range(SPARE)
    ]
    async with db.atomic() as tx:
        await put_directory_users(tx, link_id, users)
        await put_extensions(tx, link_id, [*linked, *spare])
        for i, ext in enumerate(linked):
            await put_binding(tx, link_id, Binding(users[i].id, ext.number, bound_at=1.0))
        await add_audit(
            tx,
            [
                AuditEntry(
                    link_id=link_id,
                    action="create",
                    outcome="ok",
                    trigger="round",
                    number=ext.number,
                    user_id=users[i].id,
                    reason="new_user",
                )
                for i, ext in enumerate(linked)
            ],
        )
    return link_id


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db", SecretBox([generate_key().encode()]))
        try:
            link = await get_link(db, await _seed(db))
            cache = ViewCache()
            start = time.perf_counter()
            users, spare = await cache.get(db, link)
            built = time.perf_counter() - start
            start = time.perf_counter()
            found = search(users, "smith")
            searched = time.perf_counter() - start
            start = time.perf_counter()
            rows, _ = await cache.get(db, link)
            page = [r.to_json() for r in rows[5_000:5_050]]
            paged = time.perf_counter() - start
        finally:
            await db.close()
    print(f"users in view      {len(users):>8,}   extensions with no user {len(spare):,}")
    print(f"build from store   {built * 1000:>8.1f} ms")
    print(f"search 'smith'     {searched * 1000:>8.1f} ms   ({len(found):,} found)")
    print(f"one page (cached)  {paged * 1000:>8.1f} ms   ({len(page)} rows)")


if __name__ == "__main__":
    asyncio.run(main())
