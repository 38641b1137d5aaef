"""How the Graph client reads error bodies, Retry-After and backoff (pure functions)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from worker.errors import GraphError, ResyncRequired, ThrottledError, TransientError
from worker.graph.failures import error_for_response, parse_error_body
from worker.graph.retry import RetryBudget, RetryPolicy, parse_retry_after_s
from worker.graph.subscriptions import format_expiration


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


class TestParseErrorBody:
    def test_documented_shape(self) -> None:
        """code, message and innerError.request-id are read from Graph's documented body."""
        parsed = parse_error_body(
            body({"error": {"code": "c", "message": "m", "innerError": {"request-id": "r"}}}), {}
        )
        assert (parsed.code, parsed.message, parsed.request_id) == ("c", "m", "r")

    def test_lowercase_innererror_and_nested_codes(self) -> None:
        """`innererror` in any casing is followed, and nested codes are collected."""
        document = {
            "error": {
                "code": "badRequest",
                "innererror": {"code": "syncStateNotFound", "requestId": "r2"},
            }
        }
        parsed = parse_error_body(body(document), {})
        assert parsed.codes == ("badRequest", "syncStateNotFound")
        assert parsed.request_id == "r2"

    def test_missing_fields_fall_back_to_headers(self) -> None:
        """An error object without message or inner error takes request-id from the header."""
        parsed = parse_error_body(body({"error": {}}), {"request-id": "hdr"})
        assert (parsed.code, parsed.message, parsed.request_id) == ("", "", "hdr")

    def test_oauth_shape(self) -> None:
        """The token endpoint's `{"error": "...", "error_description": ...}` shape is read too."""
        parsed = parse_error_body(body({"error": "invalid_token", "error_description": "x"}), {})
        assert (parsed.code, parsed.message) == ("invalid_token", "x")

    @pytest.mark.parametrize("raw", [b"", b"<html>oops</html>", b"[1, 2]", b"\xff\xfe"])
    def test_non_json_or_odd_json(self, raw: bytes) -> None:
        """Empty, HTML, non-object and undecodable bodies don't raise while being read."""
        parsed = parse_error_body(raw, {})
        assert parsed.code == ""


class TestErrorForResponse:
    def test_resync_code_in_inner_error(self) -> None:
        """A resync code nested in innerError still means ResyncRequired."""
        document = {"error": {"code": "x", "innerError": {"code": "resyncRequired"}}}
        assert isinstance(error_for_response(400, {}, body(document), what="GET /"), ResyncRequired)

    def test_503_with_retry_after_is_throttled(self) -> None:
        """503 with Retry-After maps to ThrottledError carrying the seconds."""
        error = error_for_response(503, {"Retry-After": "4"}, b"", what="GET /")
        assert isinstance(error, ThrottledError)
        assert error.retry_after_s == 4.0

    def test_500_is_transient_and_501_permanent(self) -> None:
        """A 500 is worth retrying later; a 501 (unsupported $select) never is."""
        assert type(error_for_response(500, {}, b"", what="GET /")) is TransientError
        assert isinstance(error_for_response(501, {}, b"", what="GET /"), GraphError)


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [("7", 7.0), (" 2.5 ", 2.5), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
    )
    def test_delta_seconds(self, value: str | None, expected: float | None) -> None:
        """delta-seconds are read as floats, negatives clamp to 0, junk is ignored."""
        assert parse_retry_after_s(value) == expected

    @pytest.mark.parametrize("value", ["inf", "nan"])
    def test_non_finite_is_ignored(self, value: str) -> None:
        """inf and nan are not waits."""
        assert parse_retry_after_s(value) is None

    def test_http_date(self) -> None:
        """An HTTP-date gives the seconds from now until then."""
        now = datetime(2026, 1, 1, tzinfo=UTC)
        header = format_datetime(now + timedelta(seconds=90), usegmt=True)
        assert parse_retry_after_s(header, now=now) == 90.0


class TestBackoff:
    def test_full_jitter_stays_under_the_ceiling(self) -> None:
        """Backoff is uniform in [0, min(max, base*2**(n-1))]."""
        policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=5.0)
        rng = random.Random(3)
        for attempt in range(1, 10):
            ceiling = min(5.0, 2.0 ** (attempt - 1))
            assert all(0 <= policy.backoff_s(attempt, rng) <= ceiling for _ in range(50))

    def test_budget_counts_requested_waits(self) -> None:
        """The time cap counts the waits asked for, so an instant test sleep is capped too."""
        budget = RetryBudget(RetryPolicy(max_attempts=10, max_retry_time_s=10))
        assert budget.allows(1, 6)
        budget.waited_s += 6
        assert not budget.allows(2, 6)

    def test_budget_caps_attempts(self) -> None:
        """No retry is allowed once max_attempts attempts were made."""
        budget = RetryBudget(RetryPolicy(max_attempts=3))
        assert budget.allows(2, 0)
        assert not budget.allows(3, 0)


def test_expiration_is_utc_with_z() -> None:
    """Expirations go out in UTC with a Z; naive datetimes are refused."""
    cet = datetime(2026, 1, 1, 13, 0, 0, 500, tzinfo=timezone(timedelta(hours=1)))
    assert format_expiration(cet) == "2026-01-01T12:00:00Z"
    with pytest.raises(ValueError, match="timezone"):
        format_expiration(datetime(2026, 1, 1))
