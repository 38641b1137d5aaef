"""Apply a plan to a model of the PBX and the bindings, without I/O.

The property tests use it to check that planning again after applying changes nothing; the
applier's tests can compare the real PBX with it.
"""

from __future__ import annotations

from dataclasses import replace

from store.models import Binding, Extension
from worker.planner.actions import Action, ActionKind, Plan
from worker.planner.directory import CELL, EMAIL, FIRST_NAME, LAST_NAME
from worker.planner.inputs import PlanInput

_EXTENSION_FIELDS = {FIRST_NAME: "first_name", LAST_NAME: "last_name", EMAIL: "email", CELL: "cell"}


def apply_plan(inp: PlanInput, plan: Plan) -> PlanInput:
    """The input the next plan would see once every write of `plan` succeeded."""
    extensions = dict(inp.extensions)
    bindings = {b.number: b for b in inp.bindings}
    for action in plan.writes:
        _apply(action, extensions, bindings, inp.now)
    return replace(inp, extensions=extensions, bindings=tuple(bindings.values()))


def _apply(
    action: Action, extensions: dict[str, Extension], bindings: dict[str, Binding], now: float
) -> None:
    number, user_id = action.number or "", action.user_id or ""
    if action.kind is ActionKind.CREATE:
        if number in extensions:
            raise ValueError(f"create of {number}, which exists")
        extensions[number] = _with_changes(Extension(number=number), action)
        bindings[number] = Binding(user_id, number, bound_at=now)
        return
    ext = extensions[number]
    if action.kind is ActionKind.BIND:
        bindings[number] = Binding(user_id, number, bound_at=now)
    elif action.kind is ActionKind.ENABLE:
        ext = replace(ext, disabled=False)
        bindings[number] = replace(bindings[number], disabled_by_us=False)
    elif action.kind is ActionKind.DISABLE:
        ext = replace(ext, disabled=True)
        if number in bindings:
            bindings[number] = replace(bindings[number], disabled_by_us=True)
    extensions[number] = _with_changes(ext, action)


def _with_changes(ext: Extension, action: Action) -> Extension:
    for change in action.changes:
        if change.field not in _EXTENSION_FIELDS:
            continue  # a template setting (rules.py): not part of the extension model
        ext = replace(ext, **{_EXTENSION_FIELDS[change.field]: change.new})  # type: ignore[arg-type]
    return ext
