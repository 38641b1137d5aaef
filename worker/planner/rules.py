"""Rules per Entra group: numbering range, a template of Vodia settings and a hunt group.

A link's `group_rules` setting is an ordered list; the first rule whose group (transitive
membership, an input of the plan) holds a user applies to that user; the link's own
`ranges` are the default rule that catches the rest. Pure: memberships come in as data.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from store.models import DirectoryUser
from worker.planner.numbering import (
    NumberRanges,
    NumberSpecError,
    format_number_spec,
    is_extension_number,
    parse_number_spec,
)

MAX_RULES = 50
MAX_TEMPLATE_FIELDS = 40
MAX_VALUE_LENGTH = 200
DEFAULT_RULE = "default"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}")
_GROUP_ID_RE = re.compile(r"[0-9A-Za-z-]{1,100}")
_RULE_KEYS = frozenset(
    {"name", "group_id", "ranges", "template", "hunt_group", "number_from", "digits"}
)
# Where a rule may take the extension number from instead of the next free one: the
# business phone, or a directory attribute whose value is the number. `employeeId` and
# `onPremisesExtensionAttributes.extensionAttribute1..15` are user properties (Microsoft
# Learn, resources/user.md and resources/onpremisesextensionattributes.md); both are
# "returned only on $select", and the 15 attributes can only be selected together.
BUSINESS_PHONE = "business_phone"
EMPLOYEE_ID = "employeeId"
EXTENSION_ATTRIBUTES = tuple(f"extensionAttribute{i}" for i in range(1, 16))
ATTRIBUTE_SOURCES = (EMPLOYEE_ID, *EXTENSION_ATTRIBUTES)
NUMBER_SOURCES = ("", BUSINESS_PHONE, *ATTRIBUTE_SOURCES)

# The extension fields a template may set once at create. Every one is a key of the
# extension `user_settings` object in Vodia's REST API (the GET example of
# /rest/domain/{d}/user_settings/{ext} in the published API pages and the OpenAPI v70.3
# description of user_settings): call handling, voicemail and directory attributes.
# The fields the directory owns (names, email, cell), `disabled` and `alias` are not
# templatable: the sync itself writes those, and a template must not fight it.
TEMPLATE_FIELDS = frozenset(
    {
        "access_level",
        "anonymous",
        "avail",
        "block_cid",
        "bob",
        "building",
        "cell_mwi",
        "comment",
        "cw",
        "department",
        "dial_plan",
        "dnd",
        "location",
        "mb_enable",
        "need_license",
        "position",
        "room",
        "skills",
        "visible",
    }
)


class RuleError(ValueError):
    """A group rule that is not acceptable; the message says which and why."""


@dataclass(frozen=True, slots=True)
class GroupRule:
    name: str
    group_id: str
    ranges: NumberRanges = ()
    template: tuple[tuple[str, str], ...] = ()
    hunt_group: str = ""
    # "business_phone": the last `digits` digits of the first business phone (3CX- and
    # Thirdlane-style); "employeeId" / "extensionAttributeN": that attribute's value, all
    # digits (its last `digits` digits when `digits` is set); "": the next free number.
    number_from: str = ""
    digits: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group_id": self.group_id,
            "ranges": format_number_spec(self.ranges),
            "template": dict(self.template),
            "hunt_group": self.hunt_group,
            "number_from": self.number_from,
            "digits": self.digits,
        }


def parse_rules(value: Any) -> tuple[GroupRule, ...]:
    """Validate the `group_rules` setting: a JSON list (or its text, for `link set`)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        try:
            value = json.loads(text)
        except ValueError:
            raise RuleError("must be a JSON list of rules") from None
    if not isinstance(value, list | tuple):
        raise RuleError("must be a list of rules")
    if len(value) > MAX_RULES:
        raise RuleError(f"at most {MAX_RULES} rules")
    rules = tuple(_rule(i, item) for i, item in enumerate(value, 1))
    _check_distinct(rules)
    return rules


def _rule(index: int, item: Any) -> GroupRule:
    where = f"rule {index}"
    if not isinstance(item, Mapping):
        raise RuleError(f"{where}: must be an object")
    unknown = sorted(str(k) for k in item if k not in _RULE_KEYS)
    if unknown:
        raise RuleError(
            f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(_RULE_KEYS))}"
        )
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name.strip()):
        raise RuleError(f"{where}: name must be 1-40 letters, digits, spaces, '_', '.', '-'")
    name = name.strip()
    if name.lower() == DEFAULT_RULE:
        raise RuleError(f"{where}: {DEFAULT_RULE!r} is the name of the link's own rule")
    where = f"rule {name!r}"
    group_id = item.get("group_id")
    if not isinstance(group_id, str) or not _GROUP_ID_RE.fullmatch(group_id.strip()):
        raise RuleError(f"{where}: group_id must be an Entra group id")
    ranges_value = item.get("ranges") or ""
    if not isinstance(ranges_value, str | list):
        raise RuleError(f"{where}: ranges must be text like '400-449'")
    try:
        ranges = parse_number_spec(ranges_value)
    except NumberSpecError as exc:
        raise RuleError(f"{where}: ranges: {exc}") from None
    hunt = item.get("hunt_group") or ""
    if not isinstance(hunt, str) or (hunt and not is_extension_number(hunt.strip())):
        raise RuleError(f"{where}: hunt_group must be the number of a Vodia hunt group")
    source, digits = _number_source(where, item)
    return GroupRule(
        name=name,
        group_id=group_id.strip().lower(),
        ranges=ranges,
        template=_template(where, item.get("template")),
        hunt_group=hunt.strip(),
        number_from=source,
        digits=digits,
    )


def _number_source(where: str, item: Mapping[str, Any]) -> tuple[str, int]:
    source = item.get("number_from") or ""
    if source not in NUMBER_SOURCES:
        raise RuleError(
            f"{where}: number_from must be 'business_phone', 'employeeId', "
            "'extensionAttribute1' to 'extensionAttribute15', or empty"
        )
    digits = item.get("digits") or 0
    if isinstance(digits, str) and digits.strip().isascii() and digits.strip().isdigit():
        digits = int(digits.strip())
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise RuleError(f"{where}: digits must be a whole number")
    if source == BUSINESS_PHONE and not 2 <= digits <= 6:
        raise RuleError(f"{where}: number_from needs digits between 2 and 6")
    if source in ATTRIBUTE_SOURCES and digits and not 2 <= digits <= 6:
        raise RuleError(f"{where}: digits must be between 2 and 6 (or left out: the whole value)")
    if not source and digits:
        raise RuleError(f"{where}: digits needs number_from")
    return source, digits


def _template(where: str, value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise RuleError(f"{where}: template must be an object of Vodia settings")
    if len(value) > MAX_TEMPLATE_FIELDS:
        raise RuleError(f"{where}: template: at most {MAX_TEMPLATE_FIELDS} fields")
    out: dict[str, str] = {}
    for key in sorted(value, key=str):
        if key not in TEMPLATE_FIELDS:
            raise RuleError(
                f"{where}: template: {str(key)[:40]!r} is not a Vodia extension setting a "
                f"template may set; allowed: {', '.join(sorted(TEMPLATE_FIELDS))}"
            )
        raw = value[key]
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        elif isinstance(raw, int):
            raw = str(raw)
        if not isinstance(raw, str) or len(raw) > MAX_VALUE_LENGTH or not raw.isprintable():
            raise RuleError(f"{where}: template: {key} must be printable text of at most 200")
        out[key] = raw
    return tuple(out.items())


def _check_distinct(rules: tuple[GroupRule, ...]) -> None:
    names = [r.name.lower() for r in rules]
    for name in names:
        if names.count(name) > 1:
            raise RuleError(f"rule {name!r} is named twice")
    hunts = [r.hunt_group for r in rules if r.hunt_group]
    for hunt in hunts:
        if hunts.count(hunt) > 1:
            raise RuleError(f"hunt group {hunt} is given to two rules")
    spans = sorted((lo, hi, r.name) for r in rules for lo, hi in r.ranges)
    for (_, hi_a, a), (lo_b, _, b) in itertools.pairwise(spans):
        if lo_b <= hi_a:
            raise RuleError(f"the ranges of rules {a!r} and {b!r} overlap")


@dataclass(frozen=True, slots=True)
class RuleChoice:
    """Which rule applies to a user, and why (shown in the plan)."""

    rule: GroupRule | None  # None: the link's default rule
    why: str

    @property
    def name(self) -> str:
        return self.rule.name if self.rule else DEFAULT_RULE


def choose_rule(
    rules: tuple[GroupRule, ...],
    user_id: str,
    members: Mapping[str, frozenset[str]] | None,
) -> RuleChoice:
    """The first rule whose group holds the user (ids compared in lower case)."""
    if not rules:
        return RuleChoice(None, "no group rules")
    if members is None:
        return RuleChoice(None, "group memberships unknown (the group read failed)")
    uid = user_id.lower()
    for rule in rules:
        if uid in members.get(rule.group_id, frozenset()):
            return RuleChoice(rule, f"member of group {rule.group_id}")
    return RuleChoice(None, "in none of the rules' groups")


def source_label(rule: GroupRule) -> str:
    """How the plan names where a rule's number comes from."""
    return "the business phone" if rule.number_from == BUSINESS_PHONE else rule.number_from


def directory_value(rule: GroupRule, user: DirectoryUser) -> str | None:
    """The raw directory value a `number_from` rule reads (None: the user has none)."""
    if rule.number_from == BUSINESS_PHONE:
        return next((p for p in user.business_phones if p.strip()), None)
    if rule.number_from == EMPLOYEE_ID:
        return user.employee_id
    return dict(user.extension_attributes).get(rule.number_from)


def directory_number(rule: GroupRule, user: DirectoryUser) -> str | None:
    """The number a `number_from` rule takes from the directory, or None when the user's
    value gives none: for the business phone, the last `digits` digits of the first phone
    (None with fewer digits); for an attribute, its value when it is all digits (spaces
    around it aside), cut to its last `digits` digits when the rule sets `digits`."""
    if rule.number_from == BUSINESS_PHONE:
        for phone in user.business_phones:
            digits = "".join(c for c in phone if c.isascii() and c.isdigit())
            if digits:
                return digits[-rule.digits :] if len(digits) >= rule.digits else None
        return None
    value = directory_value(rule, user)
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    if rule.digits:
        return text[-rule.digits :] if len(text) >= rule.digits else None
    return text
