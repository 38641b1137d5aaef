"""Deterministic, realistic-looking users and groups for tests, benchmarks and the demo.

Same (count, seed) → same ids, names and phones. Names include diacritics, phones come
in the mixed formats real tenants have (and some junk), some accounts are disabled and
some are guests with `#EXT#` UPNs.
"""

from __future__ import annotations

import functools
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from random import Random
from typing import Any, Protocol

from .groups import Groups, _Member


class SeedTarget(Protocol):
    """What seeding needs of the directory (a protocol: directory.py imports this module)."""

    @property
    def records(self) -> Mapping[str, _Member]: ...

    @property
    def groups(self) -> Groups: ...

    def insert_user(
        self, user_id: str, props: dict[str, Any], *, validated: bool = False
    ) -> dict[str, Any]: ...


FIRST_NAMES = (
    "Adele", "Alex", "Ana", "Björn", "Chloé", "Diego", "Élodie", "Emma", "Ewa", "Fatima",
    "François", "Grace", "Hannah", "Henrik", "Isabella", "Jan", "José", "Jürgen", "Kenji",
    "Lars", "Łukasz", "Lena", "Liam", "Lucía", "Mads", "María", "Mateo", "Megan", "Mia",
    "Noah", "Nuno", "Olivia", "Oskar", "Pierre", "Priya", "Rafał", "Renée", "Sven", "Søren",
    "Zoë",
)  # fmt: skip
LAST_NAMES = (
    "Andersen", "Bauer", "Bianchi", "Bowen", "Brown", "Çelik", "Dubois", "Fernández",
    "García", "Gonçalves", "Grüber", "Hansen", "Ivanović", "Jansen", "Kowalski", "Lambert",
    "López", "Martin", "Müller", "Nakamura", "Nguyen", "Novák", "O'Brien", "Østergaard",
    "Patel", "Rossi", "Schäfer", "Schmidt", "Silva", "Smith", "Sørensen", "Svensson",
    "Takahashi", "Vasquez", "Weiß", "Wilson", "Wójcik", "Yilmaz", "Zhang", "Żukowski",
)  # fmt: skip
DEPARTMENTS = ("Sales", "Support", "Engineering", "Finance", "Marketing", "Operations")
TITLES = ("Engineer", "Manager", "Consultant", "Analyst", "Director", "Assistant", "Agent")
OFFICES = ("Redmond", "Berlin", "London", "Lisbon", "Kraków", "Remote")
JUNK_PHONES = ("ext. 42", "n/a", "call reception", "555-CALL-NOW", "+")
_ASCII_FOLDS = str.maketrans({"ß": "ss", "Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "'": ""})
GROUP_NAMES = ("All Staff", "Sales", "Sales EMEA", "Support")


@dataclass(frozen=True, slots=True)
class SeedResult:
    user_ids: list[str]
    group_ids: dict[str, str]  # display name → id


@functools.lru_cache(maxsize=1024)
def ascii_name(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.translate(_ASCII_FOLDS))
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()).lower()


def business_phone(rng: Random, index: int) -> list[str]:
    kind = rng.randrange(10)
    suffix = f"{index % 10000:04d}"
    if kind <= 2:
        return [f"+1 425 555 {suffix}"]
    if kind <= 4:
        return [f"(425) 555-{suffix}"]
    if kind == 5:
        return [f"0049 30 {rng.randrange(1000000, 9999999)}"]
    if kind == 6:
        return [f"+44 20 7946 {suffix}"]
    if kind == 7:
        return [rng.choice(JUNK_PHONES)]
    return []


def user_props(rng: Random, index: int, domain: str, taken: set[str]) -> dict[str, Any]:
    given, surname = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    alias = f"{ascii_name(given)}.{ascii_name(surname)}"
    if alias in taken:
        alias = f"{alias}{index}"
    taken.add(alias)
    guest = rng.random() < 0.03
    props: dict[str, Any] = {
        "givenName": given,
        "surname": surname,
        "displayName": f"{given} {surname}",
        "businessPhones": business_phone(rng, index),
        "mobilePhone": f"+1 206 555 {index % 10000:04d}" if rng.random() < 0.3 else None,
        "accountEnabled": rng.random() >= 0.05,
        "department": rng.choice(DEPARTMENTS),
        "jobTitle": rng.choice(TITLES),
        "officeLocation": rng.choice(OFFICES),
        "employeeId": f"E{index:06d}",
        "mailNickname": alias,
    }
    if guest:
        outside = f"{alias}@fabrikam.example"
        props.update(
            userType="Guest",
            mail=outside,
            userPrincipalName=f"{alias}_fabrikam.example#EXT#@{domain}",
        )
    else:
        props.update(userType="Member", mail=f"{alias}@{domain}")
        props["userPrincipalName"] = props["mail"]
    return props


def seed_directory(directory: SeedTarget, count: int, seed: int, domain: str) -> SeedResult:
    rng = Random(seed)
    taken = {str(rec.props["mailNickname"] or "") for rec in directory.records.values()}
    start = len(directory.records)
    user_ids = []
    for index in range(start, start + count):
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        props = user_props(rng, index, domain, taken)
        directory.insert_user(user_id, props, validated=True)
        user_ids.append(user_id)
    return SeedResult(user_ids, _seed_groups(directory, rng, user_ids))


def _seed_groups(directory: SeedTarget, rng: Random, user_ids: list[str]) -> dict[str, str]:
    groups = directory.groups
    existing = {g.props["displayName"]: gid for gid, g in groups.by_id.items()}
    ids: dict[str, str] = {}
    for name in GROUP_NAMES:
        if name not in existing:
            group_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            nickname = ascii_name(name)
            groups.create({"displayName": name, "mailNickname": nickname}, group_id)
            existing[name] = group_id
        ids[name] = existing[name]
    for user_id in user_ids:
        groups.by_id[ids["All Staff"]].members[user_id] = None
        department = directory.records[user_id].props["department"]
        if department == "Sales":
            target = "Sales EMEA" if rng.random() < 0.5 else "Sales"
            groups.by_id[ids[target]].members[user_id] = None
        elif department == "Support":
            groups.by_id[ids["Support"]].members[user_id] = None
    groups.by_id[ids["Sales"]].members.setdefault(ids["Sales EMEA"], None)  # the nested one
    return ids
