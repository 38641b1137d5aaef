"""Idle links hold nothing in the engine: their clients close and their cached
directories are forgotten (worker/engine.py: release_idle), and the freed heap goes back
to the system (worker/heap.py). The figures at 500 links are bench/links.py's."""

from __future__ import annotations

from store.directory import get_bindings
from tests.plugins.pipeline import MakeStack, graph_user
from worker.heap import MALLOC_TRIM, HeapTrimmer


async def test_an_idle_links_directory_is_forgotten_and_read_again(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack()
    stack.directory.create_user(**graph_user("Mo", "Admin"))
    await stack.settle()
    engine = stack.engine
    assert engine.links.cached_directories == 1
    assert len(engine.clients) == 1

    await engine.release_idle()  # used moments ago: kept
    assert engine.links.cached_directories == 1
    await engine.release_idle(idle_s=0.0)
    assert engine.links.cached_directories == 0
    assert len(engine.clients) == 0

    # The next round reads the directory from the store: Mo stays bound to his extension
    # and Ann, new, gets the next one.
    stack.directory.create_user(**graph_user("Ann", "Lee"))
    await stack.drain()
    assert engine.links.cached_directories == 1
    emails = {
        stack.pbx_state.get(b.number).settings["email_address"]
        for b in await get_bindings(stack.db, stack.link.id)
    }
    assert emails == {"mo.admin@contoso.example", "ann.lee@contoso.example"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_heap_is_trimmed_after_freeing_at_most_once_a_minute() -> None:
    calls: list[int] = []
    clock = Clock()

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    heap = HeapTrimmer(every_s=60.0, trim=trim, clock=clock)
    assert not await heap.trim_if_due()  # nothing freed yet
    heap.freed()
    assert await heap.trim_if_due()
    assert calls == [0]
    heap.freed()
    clock.now += 30
    assert not await heap.trim_if_due()  # within the minute
    assert await heap.trim_if_due(force=True)
    clock.now += 61
    assert not await heap.trim_if_due()  # nothing freed since
    heap.freed()
    assert await heap.trim_if_due()
    assert len(calls) == 3


async def test_glibcs_malloc_trim_is_found_and_runs() -> None:
    # Debian's glibc has it; elsewhere (musl) MALLOC_TRIM is None and trimming is skipped.
    assert MALLOC_TRIM is not None
    heap = HeapTrimmer()
    heap.freed()
    assert await heap.trim_if_due()
    assert not await HeapTrimmer(trim=None).trim_if_due(force=True)
