"""edge.safejson: hostile JSON is refused with JsonRefused, never another exception."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.safejson import MAX_DEPTH, JsonRefused, loads, nesting_depth

HOSTILE = {
    "deep-arrays": b"[" * 100_000 + b"]" * 100_000,
    "deep-objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "one-too-deep": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
    "huge-int": b"1" * 5000,
    "huge-negative-int": b"-" + b"9" * 4301,
    "int-of-25-digits": b"1" * 25,
    "float-overflow": b"1e999",
    "nan": b"NaN",
    "infinity": b"[-Infinity]",
    "lone-high-surrogate": b'"\\ud800"',
    "lone-low-surrogate-in-key": b'{"\\udfff": 1}',
    "surrogate-deep-in-list": b'[[{"a": ["x", "\\udabc"]}]]',
    "duplicate-key": b'{"value": [], "value": [1]}',
    "duplicate-nested-key": b'{"a": {"b": 1, "b": 1}}',
    "not-utf8": b'"\xff"',
    "encoded-surrogate-utf8": b'"\xed\xa0\x80"',
    "utf16": json.dumps({"value": []}).encode("utf-16"),
    "utf8-bom": b"\xef\xbb\xbf{}",
    "truncated": b'{"value": [{"subscriptionId": "',
    "empty": b"",
    "garbage": b"\x1f\x8b\x08\x00garbage",
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_json_is_refused(body: bytes) -> None:
    """Each case raises JsonRefused (a ValueError), not RecursionError/ValueError/...."""
    with pytest.raises(JsonRefused):
        loads(body)


def test_ordinary_json_is_read_as_json_loads_reads_it() -> None:
    """A Graph notification body, surrogate pairs and escaped brackets in strings pass."""
    doc = {
        "value": [{"subscriptionId": "x", "resourceData": {"id": "[{"}, "n": 2**63 - 1}],
        "emoji": "\U0001f600",
        "f": 1.5,
    }
    assert loads(json.dumps(doc).encode()) == doc  # ensure_ascii: a \\ud83d\\ude00 pair
    assert loads(json.dumps(doc, ensure_ascii=False).encode()) == doc
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    assert loads(b'"\\\\ud800"') == "\\ud800"  # an escaped backslash, not a surrogate


def test_depth_scan_ignores_brackets_in_strings_and_stays_linear() -> None:
    """Brackets inside strings do not count; escaped quotes that never close do not make
    the scan quadratic (this input took minutes with a naive string pattern)."""
    assert nesting_depth('{"a": "[[[[[[", "b": ["]]]]"]}') == 2
    assert nesting_depth("") == 0
    hostile = '"\\"' * 200_000 + "[" * 10
    assert nesting_depth(hostile) == 0  # one unterminated string swallows the rest
    with pytest.raises(JsonRefused):
        loads(hostile.encode())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_every_json_value_within_limits_round_trips(value: Any) -> None:
    """What json.dumps writes (64-bit ints, finite floats, any text) reads back unchanged,
    unless a string holds a lone surrogate, which is refused."""
    body = json.dumps(value).encode()
    try:
        assert loads(body) == value
    except JsonRefused:
        with pytest.raises(UnicodeEncodeError):
            json.dumps(value, ensure_ascii=False).encode("utf-8")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bytes_raise_nothing_but_json_refused(body: bytes) -> None:
    """Random bytes: a value or JsonRefused, never another exception."""
    with contextlib.suppress(JsonRefused):
        loads(body)
