"""Deterministic extensions: realistic names, emails in the Microsoft 365 tenant's mail
domain (so they can match directory users), some without email, some disabled."""

from __future__ import annotations

import random
import unicodedata

from emulators.pbx.accounts import Account
from emulators.pbx.state import PbxState

FIRST_NAMES = (
    "Adele",
    "Alex",
    "Allan",
    "Ana",
    "Ben",
    "Carla",
    "Chen",
    "Diego",
    "Elif",
    "Emma",
    "Fatima",
    "Grady",
    "Hanna",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Jonas",
    "Joni",
    "Kenji",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Nora",
    "Olga",
    "Patti",
    "Pradeep",
    "Priya",
    "Raúl",
    "Sara",
    "Sven",
    "Tomás",
    "Ursula",
    "Wei",
    "Yara",
    "Zoë",
)
LAST_NAMES = (
    "Archer",
    "Bauer",
    "Becker",
    "Bowen",
    "Castro",
    "Diaz",
    "Fernandez",
    "Gonzalez",
    "Hall",
    "Jensen",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Meyer",
    "Miller",
    "Müller",
    "Nguyen",
    "O'Brien",
    "Patel",
    "Rossi",
    "Sato",
    "Schmidt",
    "Silva",
    "Smith",
    "Tanaka",
    "Vance",
    "Wagner",
    "Wilber",
    "Yilmaz",
    "Zhang",
)
_CELL_FORMATS = ("+1 425 555 {n:04d}", "(425) 555-{n:04d}", "+1425555{n:04d}", "", "")


def seed_extensions(
    state: PbxState,
    count: int,
    *,
    seed: int = 1,
    domain: str | None = None,
    mail_domain: str = "contoso.example",
    first_number: int = 1000,
) -> list[Account]:
    """Add `count` extensions at the first free numbers from `first_number` upwards."""
    rng = random.Random(seed)
    tenant = state.tenant(domain)
    used_emails = {a.settings.get("email_address", "") for a in tenant.accounts.values()}
    created: list[Account] = []
    number = first_number
    while len(created) < count:
        while str(number) in tenant.accounts:
            number += 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = "" if rng.random() < 0.1 else _unique_email(first, last, mail_domain, used_emails)
        cell = rng.choice(_CELL_FORMATS).format(n=rng.randrange(10_000))
        created.append(
            state.add_extension(
                str(number),
                domain=tenant.name,
                first_name=first,
                last_name=last,
                email=email,
                cell=cell,
                disabled=rng.random() < 0.05,
            )
        )
    return created


def _unique_email(first: str, last: str, mail_domain: str, used: set[str]) -> str:
    plain = unicodedata.normalize("NFKD", f"{first}.{last}".lower())
    local = "".join(ch for ch in plain if ch.isascii() and ch not in "' ")
    email, suffix = f"{local}@{mail_domain}", 1
    while email in used:
        suffix += 1
        email = f"{local}{suffix}@{mail_domain}"
    used.add(email)
    return email
