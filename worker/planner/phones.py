"""Phone numbers from the directory, normalised to E.164 for Vodia's `cell_dis`."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

# Parsing costs ~15 us a number; a sweep of 100,000 users re-reads the same numbers every
# 12 hours, so remembering results makes every sweep after the first cheap. The bound keeps
# memory flat (~40 MB at most) whatever the directory holds.
_CACHE_SIZE = 1 << 18
_MAX_PHONE_CHARS = 64


@lru_cache(maxsize=_CACHE_SIZE)
def normalise_phone(raw: str, region: str) -> tuple[str, bool]:
    """(E.164 form, True), or (the text as written, False) when it is not a phone number.

    National formats are read in `region` ("(425) 555-0101" in US). A leading "00" that the
    region does not dial as its exit code is still read as "+" ("0049 30 1234567" from US is
    +49301234567): people write numbers that way whatever their tenant's country is.
    """
    text = raw.strip()
    if not text or len(text) > _MAX_PHONE_CHARS:
        return text, not text
    e164 = _e164(text, region)
    if e164 is None and text.startswith("00"):
        e164 = _e164("+" + text[2:], region)
    return (text, False) if e164 is None else (e164, True)


def _e164(text: str, region: str) -> str | None:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# Parentheses are not separators here: "+44 (0)20" hides a trunk zero that E.164 drops.
_SEPARATORS = str.maketrans("", "", " -./\u00a0")


def already_e164(raw: str, current: str) -> bool:
    """Is `current` (the PBX's cell) plainly the E.164 form of `raw`, with no need to parse?

    True only when `current` is "+" and 8 to 15 digits and `raw` is those very digits with
    spaces, dashes, dots or slashes ("+1 425 555 0100"). Anything in parentheses, such as a
    trunk zero ("+44 (0)20 ..."), makes them differ, so such numbers are still parsed.
    This spares a cold sweep most of its phonenumbers work: bound users' numbers are usually
    unchanged and already written in E.164.
    """
    if not current.startswith("+") or not 9 <= len(current) <= 16 or not current[1:].isdigit():
        return False
    return raw.strip().translate(_SEPARATORS) == current


def same_cell(current: str, wanted: str) -> bool:
    """Is the PBX's cell `current` the number we want, written without (or with other)
    spaces, dashes, dots or slashes? Some Vodia builds store cell numbers that way
    (doc.vodia.com/docs/cellphones); rewriting them would be a write every round."""
    return current.translate(_SEPARATORS) == wanted.translate(_SEPARATORS)


def clear_phone_cache() -> None:
    """Forget remembered numbers (the benchmark uses it to measure a cold first sweep)."""
    normalise_phone.cache_clear()
