"""The link policy: validation of the settings JSON, defaults, and the number-range syntax."""

from __future__ import annotations

from typing import Any

import pytest

from worker.planner import Policy, PolicyError
from worker.planner.numbering import NumberPool, parse_number_spec, spec_contains


def test_defaults_are_the_safe_vodia_behaviour() -> None:
    """An empty settings object gives the documented defaults."""
    policy = Policy.from_settings({})
    assert policy == Policy()
    assert not policy.auto_create
    assert policy.cooloff_days == 30
    assert policy.email_source == "mail_then_upn"
    assert policy.phone_region == "US"
    assert policy.disable_on_soft_delete and policy.disable_on_hard_delete
    assert policy.disable_on_account_disabled and policy.disable_on_out_of_scope
    assert (policy.disable_threshold_count, policy.disable_threshold_percent) == (10, 20)
    assert not policy.unmatched_without_email
    assert policy.sweep_interval_hours == 12


def test_settings_round_trip() -> None:
    """to_settings gives back JSON that from_settings turns into the same policy."""
    settings = {
        "auto_create": True,
        "ranges": " 400-449 , 200-299",
        "reserved": ["250", "260-269"],
        "scope": "groups",
        "group_ids": ["5d2f1c1e-0000-4000-8000-000000000001"],
        "phone_region": "de",
        "protected": "100-199,999",
        "alert_emails": "ops@example.com, it@example.com",
    }
    policy = Policy.from_settings(settings)
    assert policy.ranges == ((200, 299), (400, 449))
    assert policy.reserved == ((250, 250), (260, 269))
    assert policy.phone_region == "DE"
    out = policy.to_settings()
    assert out["ranges"] == "200-299,400-449"
    assert out["alert_emails"] == ["ops@example.com", "it@example.com"]
    assert Policy.from_settings(out) == policy


def test_text_values_from_the_command_line_are_accepted() -> None:
    """Booleans and whole numbers may arrive as text (`m365sync link set KEY=VALUE`)."""
    policy = Policy.from_settings({"include_guests": "yes", "cooloff_days": "7"})
    assert policy.include_guests is True
    assert policy.cooloff_days == 7


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({"ranges": "200-299,250-260"}, "ranges", "overlap"),
        ({"ranges": "2-9"}, "ranges", "2 to 6 digits"),
        ({"ranges": "1000000-1000001"}, "ranges", "2 to 6 digits"),
        ({"ranges": "0200-0299"}, "ranges", "not starting with 0"),
        ({"ranges": "299-200"}, "ranges", "backwards"),
        ({"ranges": "abc"}, "ranges", "not an extension number"),
        ({"ranges": 200}, "ranges", "must be text"),
        ({"reserved": "20x"}, "reserved", "not an extension number"),
        ({"cooloff_days": -1}, "cooloff_days", "between 0 and"),
        ({"cooloff_days": True}, "cooloff_days", "whole number"),
        ({"disable_threshold_percent": 150}, "disable_threshold_percent", "between 0 and 100"),
        ({"scope": "everyone"}, "scope", "one of all, groups"),
        ({"scope": "groups"}, "group_ids", "at least one group"),
        ({"auto_create": "maybe"}, "auto_create", "true or false"),
        ({"auto_create": True}, "ranges", "needs at least one number range"),
        ({"phone_region": "XX"}, "phone_region", "two-letter region"),
        ({"email_source": "proxyAddresses"}, "email_source", "one of"),
        ({"alert_emails": ["not an address"]}, "alert_emails", "not an email address"),
        ({"sweep_interval_hours": 200}, "sweep_interval_hours", "between 1 and"),
        ({"auto_creat": True}, "auto_creat", "unknown setting"),
    ],
)
def test_junk_is_refused_with_a_clear_message(
    settings: dict[str, Any], field: str, words: str
) -> None:
    """Each kind of junk raises PolicyError naming the field and saying what is wrong."""
    with pytest.raises(PolicyError) as caught:
        Policy.from_settings(settings)
    assert caught.value.field == field
    assert words in caught.value.message
    assert str(caught.value).startswith(f"{field}: ")


def test_null_means_the_default() -> None:
    """A JSON null (a cleared form field) takes the default value."""
    assert Policy.from_settings({"cooloff_days": None, "ranges": None}) == Policy()


def test_settings_must_be_an_object() -> None:
    """A JSON list or text instead of an object is refused."""
    with pytest.raises(PolicyError, match="JSON object"):
        Policy.from_settings([])  # type: ignore[arg-type]


def test_range_membership_is_by_spelling() -> None:
    """'0201' is not 201: only the canonical spelling is inside a range."""
    ranges = parse_number_spec("200-299,400")
    assert spec_contains(ranges, "201")
    assert spec_contains(ranges, "400")
    assert not spec_contains(ranges, "0201")
    assert not spec_contains(ranges, "300")
    assert not spec_contains(ranges, "ann")


def test_pool_gives_the_lowest_free_numbers_once() -> None:
    """The pool skips blocked numbers, never repeats, and says None when full."""
    pool = NumberPool(parse_number_spec("200-203"), lambda n: n == "201")
    assert [pool.next_free(), pool.next_free(), pool.next_free(), pool.next_free()] == [
        "200",
        "202",
        "203",
        None,
    ]
