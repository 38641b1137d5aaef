"""Link settings: the planner's policy plus keys about the link itself."""

from __future__ import annotations

import pytest

from worker.linksettings import link_policy_of, validated_settings
from worker.planner import PolicyError
from worker.polling import poll_mode
from worker.settings import Settings


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


@pytest.mark.parametrize("value", [5, "9", "abc", True, 10.5, "nan", "inf", -60, 86401])
def test_poll_intervals_out_of_range_or_not_whole_seconds_are_refused(value: object) -> None:
    for key in ("poll_interval_s", "safety_poll_s"):
        with pytest.raises(PolicyError) as info:
            validated_settings({key: value})
        assert info.value.args[0] == key or key in str(info.value)


def test_poll_modes_and_their_defaults() -> None:
    """No public URL: polling every 60 s (at least 10). Push: a safety poll every 15 min."""
    assert validated_settings({"poll_interval_s": "10"})["poll_interval_s"] == 10
    polling = poll_mode(Settings(), {})
    assert (polling.push, polling.interval_s, polling.text) == (False, 60, "polling every 60 s")
    assert poll_mode(Settings(), {"poll_interval_s": 10}).interval_s == 10
    push = poll_mode(Settings(public_url="https://sync.example.com"), {"poll_interval_s": 10})
    assert (push.push, push.interval_s) == (True, 900)
    assert poll_mode(Settings(), {"poll_interval_s": 3}).interval_s == 60, "hand-edited: default"
