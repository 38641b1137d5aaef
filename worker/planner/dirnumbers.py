"""A number taken from the directory for a `number_from` group rule, or why not.

Shared by rounds (reconcile) and the popup (selection): the value is checked against the
rule's range (else the link's) and the numbers already used; every failure is a conflict
shown in the plan, never written.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.models import DirectoryUser
from worker.planner.actions import ConflictKind
from worker.planner.inputs import PlanInput
from worker.planner.numbering import (
    NumberPool,
    format_number_spec,
    is_extension_number,
    spec_contains,
)
from worker.planner.rules import (
    BUSINESS_PHONE,
    GroupRule,
    directory_number,
    directory_value,
    source_label,
)

MAX_SHOWN = 40  # of a directory value quoted in a conflict message


@dataclass(frozen=True, slots=True)
class NumberRefused:
    kind: ConflictKind
    number: str | None
    message: str
    suggested: str | None = None


def take_directory_number(
    inp: PlanInput, rule: GroupRule, user: DirectoryUser, pool: NumberPool, given: set[str]
) -> str | NumberRefused:
    """The user's number from the directory, taken from `pool`; or why it cannot be used."""
    where = f"(rule {rule.name})"
    label = source_label(rule)
    number = directory_number(rule, user)
    if number is None:
        return NumberRefused(ConflictKind.NUMBER, None, f"{_missing(rule, user)} {where}")
    ranges = rule.ranges or inp.policy.ranges
    if not is_extension_number(number):
        msg = f"{number} from {label} is not an extension number (2 to 6 digits, not 0...)"
        return NumberRefused(ConflictKind.NUMBER, None, f"{msg} {where}")
    if not spec_contains(ranges, number):
        spec = format_number_spec(ranges) or "no range"
        return NumberRefused(
            ConflictKind.NUMBER, number, f"{number} from {label} is outside {spec} {where}"
        )
    if pool.is_free(number):
        pool.take(number)
        return number
    suggested = pool.suggest_after(number)
    if number in given:
        msg = f"{number} from {label} is also another user's in this plan"
        return NumberRefused(ConflictKind.DUPLICATE_SELECTION, number, msg, suggested)
    if number in inp.extensions or number in inp.binding_by_number:
        msg = f"{number} from {label} is in use on the PBX"
    else:
        msg = f"{number} from {label} is not free (reserved, another account, or cooling off)"
    return NumberRefused(ConflictKind.NUMBER, number, msg, suggested)


def _missing(rule: GroupRule, user: DirectoryUser) -> str:
    if rule.number_from == BUSINESS_PHONE:
        return f"no business phone with {rule.digits} digits to take the number from"
    value = directory_value(rule, user)
    if value is None or not value.strip():
        return f"no {rule.number_from} to take the number from"
    shown = value.strip()[:MAX_SHOWN]
    if rule.digits and shown.isascii() and shown.isdigit():
        return f"{rule.number_from} {shown!r} has fewer than {rule.digits} digits"
    return f"{rule.number_from} {shown!r} is not a number"
