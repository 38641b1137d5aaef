"""Link settings: the planner's policy plus keys about the link itself."""

from __future__ import annotations

import pytest

from worker.linksettings import link_policy_of, validated_settings
from worker.planner import PolicyError


def test_secret_expiry_is_kept_and_does_not_reach_the_planner() -> None:
    """client_secret_expires is validated as a date and left out of the Policy."""
    settings = validated_settings(
        {"ranges": "200-299", "auto_create": "yes", "client_secret_expires": "2027-05-31"}
    )
    assert settings["client_secret_expires"] == "2027-05-31"
    assert settings["auto_create"] is True
    assert link_policy_of(settings).auto_create is True


def test_bad_secret_expiry_names_the_field() -> None:
    """A date that is not a date is refused with the field named."""
    with pytest.raises(PolicyError) as info:
        validated_settings({"client_secret_expires": "next May"})
    assert info.value.field == "client_secret_expires"


def test_unknown_keys_are_still_refused() -> None:
    """Only the known link keys pass beside the policy."""
    with pytest.raises(PolicyError):
        validated_settings({"colour": "blue"})
