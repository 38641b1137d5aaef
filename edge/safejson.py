"""A strict JSON decoder for bodies from the network.

`json.loads` alone is not safe for hostile input: deep nesting raises RecursionError, an
integer of more than 4,300 digits raises ValueError, `"\\ud800"` decodes to a lone surrogate
that later fails in SQLite, hashing or encoding (UnicodeEncodeError), bytes are sniffed as
UTF-16/32, duplicate keys silently keep the last value, and NaN/Infinity are accepted.
`loads` turns every one of these into `JsonRefused`, so callers answer 400 and nothing
downstream ever sees such a value.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any, NoReturn

# Graph notifications nest 4 deep, our admin API 3; 32 leaves room and keeps every walk
# over a decoded value (json.dumps, validation) far from the interpreter's recursion limit.
MAX_DEPTH = 32
# Whole numbers we accept anywhere fit in 64 bits (19 digits); a few more keep the error
# message about range rather than syntax.
MAX_INT_DIGITS = 24

# A string literal, or an unterminated one running to the end. Every character but a
# quote is consumed (a backslash with whatever follows it, if anything), so once a match
# starts at a quote it cannot fail: the scan stays linear on hostile input such as
# '"\\"\\"\\"...'. Unrolled (runs of plain characters in one step) for speed.
_STRING = re.compile(r'"[^"\\]*(?:\\.?[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonRefused(ValueError):
    """The body is not JSON we accept; the message says why, without echoing the body."""


def loads(body: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    try:
        # Strict UTF-8 (RFC 8259 section 8.1): rejects invalid bytes and encoded surrogates,
        # and does not sniff UTF-16/32 as json.loads(bytes) would.
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonRefused("the body is not UTF-8 text") from None
    if too_deep(text, max_depth):
        raise JsonRefused(f"the JSON nests deeper than {max_depth} levels")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise JsonRefused(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:  # the depth scan above makes this unreachable; never a 500
        raise JsonRefused(f"the JSON nests deeper than {max_depth} levels") from None
    if "\\u" in text or "\\U" in text:
        _refuse_lone_surrogates(value)
    return value


def too_deep(text: str, max_depth: int = MAX_DEPTH) -> bool:
    # Brackets inside strings are rare in real bodies: the depth over all brackets is an
    # upper bound, usually within the limit, and far cheaper than removing the strings.
    return _depth_of(text) > max_depth and nesting_depth(text) > max_depth


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside string literals (an upper bound for broken JSON)."""
    return _depth_of(_STRING.sub("", text))


def _depth_of(text: str) -> int:
    brackets = _NOT_BRACKET.sub("", text)
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _refuse_lone_surrogates(value: Any) -> None:
    # Only \uD800-\uDFFF escapes can make one (raw surrogates are not UTF-8); re-encoding
    # the whole value is exact and runs in C.
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRefused("the JSON holds a lone surrogate (\\ud800-\\udfff) in a string") from None


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Parsers disagree on which duplicate wins; refusing leaves nothing to disagree on.
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonRefused(f"duplicate key {_short(key)!r} in a JSON object")
            seen.add(key)
    return obj


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonRefused(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("a number is out of range")
    return value


def _constant(name: str) -> NoReturn:
    raise JsonRefused(f"{name} is not JSON")


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "…"
