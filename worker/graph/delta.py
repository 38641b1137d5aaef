"""One delta round: pages of changed users, then the deltaLink that starts the next round.

The deltaLink is only handed out once every page has been read. A round that stops early
(an error, a 410, the consumer breaking out) never yields one, so the caller cannot store
a link that skips changes it has not seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from worker.errors import GraphError

Page = dict[str, Any]
FetchPage = Callable[[str], Awaitable[Page]]

NEXT_LINK = "@odata.nextLink"
DELTA_LINK = "@odata.deltaLink"


class DeltaRoundIncomplete(RuntimeError):
    """`delta_link` was read before the round finished (or after it failed)."""


def page_items(page: Page) -> list[dict[str, Any]]:
    """The objects of a page; a missing `value` is an empty page, non-objects are dropped."""
    value = page.get("value")
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def link_of(page: Page, key: str) -> str | None:
    link = page.get(key)
    return link if isinstance(link, str) and link else None


class DeltaRound:
    """Async-iterable once over the round's non-empty pages (lists of user dicts).

    Entries may carry `@removed` (`{"reason": "changed"}` for a soft delete, `"deleted"`
    for a permanent one), may repeat, and come in no particular order.
    """

    def __init__(self, fetch_page: FetchPage, first_url: str) -> None:
        self._fetch_page = fetch_page
        self._first_url = first_url
        self._started = False
        self._delta_link: str | None = None
        self.pages_read = 0

    @property
    def complete(self) -> bool:
        return self._delta_link is not None

    @property
    def delta_link(self) -> str:
        """The URL to GET for the next round; only available once the round is complete."""
        if self._delta_link is None:
            raise DeltaRoundIncomplete("the delta round has not been read to its end")
        return self._delta_link

    def __aiter__(self) -> AsyncIterator[list[dict[str, Any]]]:
        if self._started:
            raise RuntimeError("a DeltaRound can be iterated only once")
        self._started = True
        return self._pages()

    async def _pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        url = self._first_url
        while True:
            page = await self._fetch_page(url)
            self.pages_read += 1
            items = page_items(page)
            next_link = link_of(page, NEXT_LINK)
            delta_link = link_of(page, DELTA_LINK)
            if items:
                yield items
            # Graph may return empty pages mid-round: only the deltaLink ends it.
            if next_link is not None:
                url = next_link
                continue
            if delta_link is None:
                raise GraphError(200, "invalidResponse", "delta page without nextLink or deltaLink")
            self._delta_link = delta_link
            return
