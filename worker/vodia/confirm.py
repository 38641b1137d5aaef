"""Did a user_settings write land? What was sent against what the PBX shows, leniently.

Vodia's OpenAPI v70.3 only says the POST "returns the updated settings object"; builds answer
`{}` or plain text, and some store values normalised: emails in another case, cell numbers
without spaces or hyphens (doc.vodia.com/docs/cellphones asks for them that way). A byte-for-
byte comparison would call such a write failed and retry it every round, so emails compare
case-insensitively, the cell by its digits, and other text with its whitespace collapsed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from worker.vodia import rows

_EMAIL_FIELDS = frozenset({rows.EMAIL})
_PHONE_FIELDS = frozenset({rows.CELL})


def same_value(name: str, sent: str, shown: Any) -> bool:
    seen = rows.text(shown)
    if seen == sent:
        return True
    if name in _EMAIL_FIELDS:
        return _plain(seen).casefold() == _plain(sent).casefold()
    if name in _PHONE_FIELDS:
        return same_phone(sent, seen)
    return _plain(seen) == _plain(sent)


def same_phone(a: str, b: str) -> bool:
    """Equal digits, whatever the separators; text without digits compares as text."""
    digits_a, digits_b = _digits(a), _digits(b)
    if not digits_a or not digits_b:
        return _plain(a) == _plain(b)
    return digits_a == digits_b


def unapplied(body: Mapping[str, str], settings: Mapping[str, Any]) -> list[str]:
    """The fields of `body` that `settings` does not show, sorted."""
    return sorted(
        name for name, value in body.items() if not same_value(name, value, settings.get(name))
    )


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _plain(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value).split())
