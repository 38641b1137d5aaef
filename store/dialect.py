"""The small, explicit difference between the SQL we write and PostgreSQL's.

Store modules write one SQL text that both backends run: SQLite's `?` and `:name`
placeholders, `ON CONFLICT ... DO ...` upserts, `RETURNING`, `COUNT(*) FILTER (...)`,
`IS DISTINCT FROM`. For PostgreSQL, `to_postgres()` rewrites only what differs and
cannot be written portably:

- placeholders: `?` and `:name` become `$1, $2, ...` (outside string literals);
- `json_extract(col, '$.key')` becomes `(col::jsonb ->> 'key')`;
- `LIKE` becomes `ILIKE` (SQLite's LIKE ignores ASCII case; PostgreSQL's does not).

Anything else that differs (row locks on claims, DDL types) is asked of the backend by
name (`Transaction.skip_locked`, `migrations.postgres_ddl`), never guessed from the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

_TOKEN = re.compile(r"'(?:[^']|'')*'|\?|(?<![:\w]):([A-Za-z_]\w*)|\bLIKE\b")
_JSON_EXTRACT = re.compile(r"json_extract\((\w+),\s*'\$\.(\w+)'\)")


@lru_cache(maxsize=1024)
def _translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """The PostgreSQL text and, for named placeholders, the order of the names."""
    sql = _JSON_EXTRACT.sub(r"(\1::jsonb ->> '\2')", sql)
    names: list[str] = []
    positional = 0
    out: list[str] = []
    last = 0
    for match in _TOKEN.finditer(sql):
        token = match.group(0)
        if token.startswith("'"):
            continue
        out.append(sql[last : match.start()])
        last = match.end()
        if token == "?":  # noqa: S105 (a placeholder, not a password)
            positional += 1
            out.append(f"${positional}")
        elif token.upper() == "LIKE":
            out.append("ILIKE")
        else:
            name = match.group(1)
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
    out.append(sql[last:])
    if positional and names:
        raise ValueError("an SQL text mixes ? and :name placeholders")
    return "".join(out), (tuple(names) if names else None)


def to_postgres(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The statement and argument list for asyncpg."""
    text, names = _translate(sql)
    if names is None:
        if isinstance(params, Mapping):
            raise ValueError("named parameters given for an SQL text with ? placeholders")
        return text, list(params)
    if not isinstance(params, Mapping):
        raise ValueError("positional parameters given for an SQL text with :name placeholders")
    return text, [params[name] for name in names]
