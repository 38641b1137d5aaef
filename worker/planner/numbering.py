"""Extension numbers: the range syntax of the policy and the pool that hands out free numbers."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable

# Vodia accepts other account names too, but extensions we create are 2-6 digits without a
# leading zero, so that "0201" and "201" can never be two spellings of one extension.
NUMBER_RE = re.compile(r"[1-9][0-9]{1,5}")

NumberRanges = tuple[tuple[int, int], ...]


class NumberSpecError(ValueError):
    """A number list such as "200-299,400" that does not parse; the message says why."""


def is_extension_number(text: str) -> bool:
    return NUMBER_RE.fullmatch(text) is not None


def parse_number_spec(spec: str | Iterable[str]) -> NumberRanges:
    """Parse "200-299, 400-449, 999" (or a list of such parts) into sorted, disjoint ranges."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    ranges: list[tuple[int, int]] = []
    for raw in parts:
        if not isinstance(raw, str):
            raise NumberSpecError(f"expected text like '200-299', got {raw!r}")
        part = raw.strip()
        if part:
            ranges.append(_parse_part(part))
    ranges.sort()
    for (lo_a, hi_a), (lo_b, hi_b) in itertools.pairwise(ranges):
        if lo_b <= hi_a:
            raise NumberSpecError(
                f"{format_range(lo_a, hi_a)} and {format_range(lo_b, hi_b)} overlap"
            )
    return tuple(ranges)


def _parse_part(part: str) -> tuple[int, int]:
    lo_text, sep, hi_text = (p.strip() for p in part.partition("-"))
    if not sep:
        hi_text = lo_text
    for text in (lo_text, hi_text):
        if not is_extension_number(text):
            raise NumberSpecError(
                f"{text!r} in {part!r} is not an extension number "
                "(2 to 6 digits, not starting with 0)"
            )
    lo, hi = int(lo_text), int(hi_text)
    if lo > hi:
        raise NumberSpecError(f"{part!r} runs backwards; write {hi}-{lo}")
    return lo, hi


def format_range(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def format_number_spec(ranges: NumberRanges) -> str:
    return ",".join(format_range(lo, hi) for lo, hi in ranges)


def spec_contains(ranges: NumberRanges, number: str) -> bool:
    """Is `number` (as Vodia spells it) inside one of the ranges?"""
    if not ranges or not is_extension_number(number):
        return False
    value = int(number)
    i = bisect.bisect_right(ranges, (value, 10**9)) - 1
    return i >= 0 and ranges[i][0] <= value <= ranges[i][1]


class NumberPool:
    """Hands out the lowest free numbers of the ranges, each at most once per plan.

    `is_blocked` says whether a number may not be given (in use, reserved, cooling off).
    The pool only ever takes numbers, so a cursor makes a sweep of many creates linear in the
    size of the ranges rather than quadratic.
    """

    def __init__(
        self,
        ranges: NumberRanges,
        is_blocked: Callable[[str], bool],
        given: set[str] | None = None,
    ) -> None:
        self._ranges = ranges
        self._is_blocked = is_blocked
        # Shared by the pools of one plan (one per group rule): a number is given once.
        self._given: set[str] = set() if given is None else given
        self._cursor = (0, ranges[0][0]) if ranges else (0, 0)

    def is_free(self, number: str) -> bool:
        return (
            spec_contains(self._ranges, number)
            and number not in self._given
            and not self._is_blocked(number)
        )

    def take(self, number: str) -> None:
        self._given.add(number)

    def next_free(self) -> str | None:
        """The lowest free number, now taken; None when the ranges are full."""
        index, value = self._cursor
        while index < len(self._ranges):
            lo, hi = self._ranges[index]
            value = max(value, lo)
            while value <= hi:
                number = str(value)
                value += 1
                if number not in self._given and not self._is_blocked(number):
                    self._cursor = (index, value)
                    self._given.add(number)
                    return number
            index += 1
        self._cursor = (index, value)
        return None

    def suggest_after(self, number: str) -> str | None:
        """The next free number above `number` (else the lowest free one), now taken."""
        if is_extension_number(number):
            start = int(number) + 1
            for lo, hi in self._ranges:
                for value in range(max(lo, start), hi + 1):
                    candidate = str(value)
                    if candidate not in self._given and not self._is_blocked(candidate):
                        self._given.add(candidate)
                        return candidate
        return self.next_free()
