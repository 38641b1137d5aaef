""" "Disable Unmatched Extensions": unbound extensions whose email matches no directory user."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from store.models import Extension
from worker.planner.actions import Action, ActionKind, Plan, Reason
from worker.planner.brakes import hold_if_over_limit
from worker.planner.directory import clean_email
from worker.planner.gcpause import gc_paused
from worker.planner.inputs import PlanInput
from worker.planner.numbering import spec_contains


def unmatched_extensions(inp: PlanInput) -> Iterator[tuple[Extension, bool]]:
    """(extension, protected) for each enabled, unbound extension no present user claims.

    Bound extensions are left to the leave rules; an extension without an email only counts
    when the policy opts in, since it may be a fax, a door phone or a hunt group.
    """
    found: list[Extension] = []
    bound, present = inp.binding_by_number, inp.present_emails
    with_empty = inp.policy.unmatched_without_email
    for number, ext in inp.extensions.items():
        if ext.disabled or number in bound:
            continue
        email = clean_email(ext.email)
        if (email and email not in present) or (not email and with_empty):
            found.append(ext)
    found.sort(key=lambda e: (len(e.number), e.number))
    for ext in found:
        yield ext, spec_contains(inp.policy.protected, ext.number)


def plan_disable_unmatched(inp: PlanInput, exclude: Collection[str] = frozenset()) -> Plan:
    """Disable unmatched extensions (protected ones and the numbers in `exclude`, which an
    administrator unticked in the preview, are skipped), behind the brake."""
    with gc_paused():
        return _plan_disable_unmatched(inp, frozenset(exclude))


def _plan_disable_unmatched(inp: PlanInput, exclude: frozenset[str]) -> Plan:
    actions: list[Action] = []
    for ext, protected in unmatched_extensions(inp):
        email = clean_email(ext.email) or None
        what = f"extension {ext.number} ({email or 'no email'}) matches no directory user"
        if ext.number in exclude:
            why = "left out by the administrator"
            actions.append(_skip(ext.number, email, Reason.EXCLUDED, f"{what}; {why}"))
        elif protected:
            actions.append(_skip(ext.number, email, Reason.PROTECTED, f"{what}; it is protected"))
        elif not inp.directory_usable:
            why = "the directory read failed or returned nobody, so nothing is disabled"
            actions.append(_skip(ext.number, email, Reason.DIRECTORY_INCOMPLETE, f"{what}; {why}"))
        else:
            actions.append(
                Action(
                    ActionKind.DISABLE,
                    Reason.UNMATCHED,
                    number=ext.number,
                    email=email,
                    message=what,
                )
            )
    held, limit = hold_if_over_limit(
        actions,
        inp.policy,
        len(inp.extensions),
        "extensions",
        held=inp.held_numbers,
        recent=inp.recent_disables,
    )
    return Plan.of(
        "disable_unmatched",
        held,
        disable_limit=limit,
        unmatched=(a.number for a in actions if a.number),
    )


def _skip(number: str, email: str | None, reason: Reason, message: str) -> Action:
    return Action(ActionKind.SKIP, reason, number=number, email=email, message=message)
