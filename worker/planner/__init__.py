"""The planner: pure functions from (directory, PBX, bindings, policy) to a plan.

No I/O, no asyncio: it imports only the standard library, `phonenumbers` and `store.models`.
The rules are DESIGN.md's "Rules of the planner"; docs/plan-format.md documents the JSON.

Policy
    ``Policy.from_settings(settings: Mapping[str, Any]) -> Policy`` validates a link's settings
    JSON and raises ``PolicyError(field, message)``; ``Policy.to_settings() -> dict`` is the
    inverse. Keys (defaults): auto_create (False), ranges ("", e.g. "200-299,400-449"),
    reserved (""), cooloff_days (30), scope ("all" | "groups"), group_ids ([]),
    include_guests (False), email_source ("mail_then_upn" | "mail" | "upn"),
    phone_source ("business_then_mobile" | "business" | "mobile" | "none"),
    phone_region ("US"), disable_on_soft_delete / disable_on_hard_delete /
    disable_on_account_disabled / disable_on_out_of_scope (all True),
    disable_threshold_count (10), disable_threshold_percent (20), disable_window_minutes (60),
    protected (""),
    unmatched_without_email (False), sweep_interval_hours (12), alert_emails ([]),
    group_rules ([]: ordered ``GroupRule(name, group_id, ranges, template, hunt_group)``,
    see ``rules.py``; the first rule whose group holds a user applies, the link's own
    ranges are the "default" rule).

Input
    ``PlanInput(users=, extensions=, bindings=, policy=, now=, in_scope_ids=None,
    released={}, directory_complete=True, other_accounts={}, held_numbers=frozenset(),
    recent_disables=0, group_members={})`` (keyword-only, frozen); ``group_members`` maps
    each rule's group id to its transitive member ids (None: the read failed, nobody is
    created and hunt groups are left alone); ``inp.rule_of(user_id)`` is the rule and why;
    ``other_accounts`` maps the numbers of PBX
    accounts that are not extensions (hunt groups, queues, IVRs, conferences, aliases, ...)
    to their usertype: they are never handed out; the last two are the brake's memory, see
    ``brakes.py``. Build a new one per plan: its indexes are computed on first use and kept.
    ``inp.standing(user_id)`` (Reason.ACTIVE or why not), ``inp.email(user_id)`` and
    ``inp.profile(user_id)`` expose what the rules see.

Planning
    ``plan_round(inp, changed_user_ids) -> Plan``   the users a delta round saw change
    ``plan_sweep(inp) -> Plan``                      everyone; fills Plan.unmatched, Plan.left
    ``plan_selection(inp, chosen) -> Plan``          the popup; chosen = [(user_id, number|None)]
    ``plan_disable_unmatched(inp, exclude=()) -> Plan``  "Disable Unmatched Extensions"
                                                     (numbers in `exclude` are skipped)
    ``plan_link(inp, user_id, number) -> Plan``      an admin links a user to an extension
    ``plan_reenable(inp, number) -> Plan``           an admin re-enables a linked extension
    ``link_candidates(inp, user_id) -> tuple``       unlinked extensions with the user's email

Plan
    ``Plan(kind, actions, disable_limit, unmatched, left, withdrawn, hunts)``; ``hunts`` are
    ``HuntTarget(number, rule, members, problem)``: each rule's hunt group members once the
    plan is applied (``hunts.py``; the round writes them after the actions). Actions sorted by
    (kind, number, user id) with kinds in the order create, bind, update, enable, disable, held,
    conflict, skip. ``Plan.of(kind, actions, ...)`` sorts. ``plan.writes`` (what the applier
    does), ``plan.held``, ``plan.by_kind(kind)``, ``plan.counts()``, ``plan.to_json()`` /
    ``Plan.from_json()``. ``worker.planner.simulate.apply_plan(inp, plan) -> PlanInput`` applies
    a plan to a model of the PBX (tests, and a check for the applier).

Action
    ``Action(kind, reason, user_id, number, email, changes, message, conflict,
    suggested_number, held_kind, notes, rule)``; ``rule`` names the group rule that applied
    (None without group rules); a create's ``changes`` include the rule's template.
    ``changes`` are ``FieldChange(field, old, new)``
    (a named tuple) over the Vodia fields first_name, display_name (the *last* name),
    email_address and cell_dis; ``action.new_values()`` is the body to send,
    ``action.change_map()`` the {field: (old, new)} view, ``action.to_json()`` /
    ``Action.from_json()`` the stored form of a held action. What the applier does per kind:

    create   addacc the number with ``new_values()``, then store the binding.
    bind     store the binding user_id <-> number, then send ``new_values()`` if any (same
             action: there is no separate update for a fresh bind).
    update   send ``new_values()`` to the bound extension.
    enable   enable_selected the number, send ``new_values()`` if any, clear disabled_by_us.
    disable  disable_selected the number; set the binding's disabled_by_us.
    held     nothing; store it for approval. ``action.release()`` gives the disable back.
    conflict, skip  nothing; show and log (conflicts may be emailed).

JSON shape (``Plan.to_json()``, printed by ``m365sync resync --dry-run --json``)::

    {"version": 1, "kind": "round"|"sweep"|"selection"|"disable_unmatched",
     "counts": {"create": 0, "bind": 0, "update": 0, "enable": 0, "disable": 0,
                "held": 0, "conflict": 0, "skip": 0},
     "disable_limit": 10 | null,
     "actions": [{"action": "update", "user_id": "...", "email": "ann@example.com",
                  "number": "201", "changes": {"first_name": ["Anne", "Ann"]},
                  "reason": "fields_changed", "message": "directory changed first_name",
                  "conflict": null | "email" | "number" | "duplicate_selection"
                              | "range_full" | "no_email",
                  "suggested_number": null | "202", "held_action": null | "disable",
                  "notes": []}],
     "unmatched": ["305"], "left": ["<user id>"], "withdrawn": ["207"]}
"""

from __future__ import annotations

from worker.planner.actions import (
    PLAN_FORMAT_VERSION,
    WRITE_KINDS,
    Action,
    ActionKind,
    ConflictKind,
    FieldChange,
    Plan,
    Reason,
)
from worker.planner.brakes import disable_limit, why_held
from worker.planner.inputs import PlanInput
from worker.planner.linking import link_candidates, plan_link, plan_reenable
from worker.planner.phones import normalise_phone
from worker.planner.policy import Policy, PolicyError
from worker.planner.reconcile import plan_round, plan_sweep
from worker.planner.selection import plan_selection
from worker.planner.unmatched import plan_disable_unmatched

__all__ = [
    "PLAN_FORMAT_VERSION",
    "WRITE_KINDS",
    "Action",
    "ActionKind",
    "ConflictKind",
    "FieldChange",
    "Plan",
    "PlanInput",
    "Policy",
    "PolicyError",
    "Reason",
    "disable_limit",
    "link_candidates",
    "normalise_phone",
    "plan_disable_unmatched",
    "plan_link",
    "plan_reenable",
    "plan_round",
    "plan_selection",
    "plan_sweep",
    "why_held",
]
