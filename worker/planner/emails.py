"""Who holds which email once a plan is applied: renames free addresses, duplicates clash."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from worker.planner.inputs import PlanInput


class EmailMoves:
    """Bound users' email changes, settled so that no two extensions end up sharing an email.

    A change is refused when the new address stays on another extension or another bound user
    wants it too. Refusing one change keeps that extension on its old address, which may clash
    with a change planned to take it, so refusals repeat until nothing changes (each round
    only removes changes, so this ends).
    """

    def __init__(self, inp: PlanInput, proposed: Mapping[str, str | None]) -> None:
        self._now = inp.numbers_by_email
        self.accepted: dict[str, str] = {n: e for n, e in proposed.items() if e}
        self.rejected: dict[str, tuple[str, ...]] = {}
        self._wanted = self._by_email()
        while self._refuse_clashes():
            self._wanted = self._by_email()

    def _by_email(self) -> dict[str, list[str]]:
        wanted: dict[str, list[str]] = {}
        for number, email in self.accepted.items():
            wanted.setdefault(email, []).append(number)
        return wanted

    def _refuse_clashes(self) -> bool:
        clashes: dict[str, tuple[str, ...]] = {}
        for number, email in self.accepted.items():
            others = tuple(n for n in self.holders_after(email) if n != number)
            if others:
                clashes[number] = others
        for number, holders in clashes.items():
            del self.accepted[number]
            self.rejected[number] = holders
        return bool(clashes)

    def holders_after(self, email: str) -> tuple[str, ...]:
        """Numbers that will hold `email` once the accepted changes are applied."""
        if not self.accepted:
            return self._now.get(email, ())
        staying = [n for n in self._now.get(email, ()) if n not in self.accepted]
        moving = self._wanted.get(email, ())
        if not moving:
            return tuple(staying)
        return tuple(sorted(set(staying) | set(moving), key=lambda n: (len(n), n)))


def describe_holders(inp: PlanInput, numbers: Iterable[str]) -> str:
    """'extension 201 (linked to user X), extension 305 (not linked)' for conflict messages."""
    parts = []
    for number in numbers:
        binding = inp.binding_by_number.get(number)
        whose = f"linked to user {binding.user_id}" if binding else "not linked to any user"
        parts.append(f"extension {number} ({whose})")
    return ", ".join(parts)
