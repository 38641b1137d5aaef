"""The plan's JSON shape (docs/plan-format.md): stable keys, order, and a lossless round trip."""

from __future__ import annotations

import json

from store.models import Binding, DirectoryUser, Extension, Removal
from worker.planner import (
    PLAN_FORMAT_VERSION,
    Action,
    ActionKind,
    Plan,
    PlanInput,
    Policy,
    Reason,
    plan_sweep,
)

ACTION_KEYS = [
    "action",
    "user_id",
    "email",
    "number",
    "changes",
    "reason",
    "message",
    "conflict",
    "suggested_number",
    "held_action",
    "notes",
    "rule",
]


def sample_plan() -> Plan:
    users = [
        DirectoryUser("u1", given_name="Ann", surname="Smith", mail="ann@example.com"),
        DirectoryUser(
            "u5",
            given_name="Eve",
            surname="Y",
            business_phones=("call me",),
            user_principal_name="eve@example.com",
        ),
        DirectoryUser("u2", given_name="Bob", surname="Jones", mail="bob@example.com"),
        DirectoryUser(
            "u3", given_name="Cy", surname="Old", mail="cy@example.com", removed=Removal.HARD
        ),
        DirectoryUser("u4", given_name="Di", surname="X", mail="ann@example.com"),
    ]
    exts = [
        Extension("99", "Bob", "J", "bob@example.com"),
        Extension("100", "Cy", "Old", "cy@example.com"),
    ]
    inp = PlanInput(
        users={u.id: u for u in users},
        extensions={e.number: e for e in exts},
        bindings=(Binding("u2", "99"), Binding("u3", "100")),
        policy=Policy.from_settings({"auto_create": True, "ranges": "200-299"}),
        now=0.0,
    )
    return plan_sweep(inp)


def test_plan_json_has_the_documented_shape() -> None:
    """Top-level keys, counts for every kind, and every key on every action."""
    data = sample_plan().to_json()
    assert list(data) == [
        "version",
        "kind",
        "counts",
        "disable_limit",
        "actions",
        "unmatched",
        "left",
        "withdrawn",
        "hunts",
    ]
    assert data["version"] == PLAN_FORMAT_VERSION
    assert list(data["counts"]) == [k.value for k in ActionKind]
    assert all(list(a) == ACTION_KEYS for a in data["actions"])
    update = next(a for a in data["actions"] if a["action"] == "update")
    assert update["changes"] == {"display_name": ["J", "Jones"]}
    json.dumps(data)  # plain JSON types only


def test_actions_are_ordered_by_kind_then_numeric_number() -> None:
    """Kinds in the documented order; '99' sorts before '100'."""
    actions = [
        Action(ActionKind.SKIP, Reason.GUEST, user_id="g"),
        Action(ActionKind.UPDATE, Reason.FIELDS_CHANGED, number="100"),
        Action(ActionKind.UPDATE, Reason.FIELDS_CHANGED, number="99"),
        Action(ActionKind.CREATE, Reason.NEW_USER, number="200"),
    ]
    plan = Plan.of("round", actions)
    assert [(a.kind, a.number) for a in plan.actions] == [
        (ActionKind.CREATE, "200"),
        (ActionKind.UPDATE, "99"),
        (ActionKind.UPDATE, "100"),
        (ActionKind.SKIP, None),
    ]


def test_json_round_trip_is_lossless() -> None:
    """Plan.from_json(plan.to_json()) == plan, as the held-actions table relies on."""
    plan = sample_plan()
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    for action in plan.actions:
        assert Action.from_json(action.to_json()) == action


def test_notes_and_conflicts_appear_in_the_json() -> None:
    """An unparsable phone is reported in notes; an email conflict carries its kind."""
    data = sample_plan().to_json()
    noted = [a for a in data["actions"] if a["notes"]]
    assert noted and "kept as written" in noted[0]["notes"][0]
    conflicts = [a for a in data["actions"] if a["action"] == "conflict"]
    assert {c["conflict"] for c in conflicts} == {"email"}
    assert data["left"] == ["u3"]
