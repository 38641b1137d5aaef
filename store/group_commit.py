"""Group commit for the webhook: many concurrent enqueues, one transaction."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence

from store.db import Database
from store.events import enqueue_in
from store.models import NewEvent


class GroupCommit:
    """Enqueues from many concurrent callers, committed together.

    Each caller waits until its events are durable. While one transaction is being
    committed, the next callers gather; they all go into the following transaction.
    One fsync then covers many notifications, so a burst costs a few commits, not
    one per POST.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[Sequence[NewEvent], asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def enqueue(self, events: Sequence[NewEvent]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((events, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._commit_all())
        await future

    async def _commit_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._db.atomic() as tx:
                    await enqueue_in(tx, [e for events, _ in batch for e in events])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)


_GROUP_COMMITS: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()


async def enqueue_durably(db: Database, events: Sequence[NewEvent]) -> None:
    """Enqueue with group commit; returns once the events are committed."""
    group = _GROUP_COMMITS.get(db)
    if group is None:
        group = _GROUP_COMMITS[db] = GroupCommit(db)
    await group.enqueue(events)
