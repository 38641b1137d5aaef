"""What the engine reports to operators. The base class does nothing; the e-mail
implementation (worker/mail/) overrides the hooks. Hooks must never raise into a round."""

from __future__ import annotations

from collections.abc import Sequence

from store.models import Event, Link
from worker.planner import Action, Plan


class Alerts:
    async def conflicts_found(self, link: Link, plan: Plan, conflicts: Sequence[Action]) -> None:
        """A round or sweep found conflicts (one digest per round)."""

    async def setup_required(self, link: Link, reason: str) -> None:
        """The link can no longer authenticate; an admin must act."""

    async def disables_held(
        self,
        link: Link,
        held: Sequence[Action],
        limit: int | None,
        *,
        waiting: int = 0,
        list_id: int = 0,
    ) -> None:
        """The brakes held disables for approval: `held` just now, `waiting` in all on the
        link's held list, whose oldest entry is `list_id` (0: unknown)."""

    async def actions_failed(self, link: Link, failed: Sequence[tuple[Action, str]]) -> None:
        """PBX writes of a round failed for good (each with the PBX's reason)."""

    async def events_failed(self, link: Link, events: Sequence[Event], error: str) -> None:
        """Events went past their retries and are now marked failed."""

    async def subscription_failed(self, link: Link, error: str) -> None:
        """The change-notification subscription could not be created or renewed."""

    async def check_expiry(self, links: Sequence[Link]) -> None:
        """Client certificates and secrets close to expiry (called from maintenance)."""

    async def close(self) -> None:
        """Release resources (the SMTP connection)."""
