"""The small part of OData `$filter` that Graph supports on users without advanced
queries: `eq`, `in`, `startswith(…)`, joined by `and`/`or` (and `ne` with
`ConsistencyLevel: eventual`). Strings compare case-insensitively, as on Graph."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

from .errors import GraphError
from .users import ALL_PROPERTIES

Predicate = Callable[[dict[str, Any]], bool]
_TOKEN = re.compile(r"\s*('(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_]*|[(),])")
_LITERALS = {"true": True, "false": False, "null": None}


def unsupported(message: str = "Unsupported Query.") -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


def tokenize(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise GraphError(
                400, "BadRequest", f"Invalid filter clause: syntax error at {position}."
            )
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(
        self, tokens: list[str], advanced: bool, properties: Collection[str], entity: str
    ) -> None:
        self.tokens = tokens
        self.advanced = advanced
        self.properties = properties
        self.entity = entity
        self.index = 0

    def take(self, expected: str | None = None) -> str:
        if self.index >= len(self.tokens):
            raise GraphError(400, "BadRequest", "Invalid filter clause: unexpected end.")
        token = self.tokens[self.index]
        if expected is not None and token.lower() != expected:
            raise GraphError(400, "BadRequest", f"Invalid filter clause: expected '{expected}'.")
        self.index += 1
        return token

    def peek(self) -> str | None:
        return self.tokens[self.index].lower() if self.index < len(self.tokens) else None

    def expression(self) -> Predicate:
        terms = [self.conjunction()]
        while self.peek() == "or":
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else lambda user: any(t(user) for t in terms)

    def conjunction(self) -> Predicate:
        terms = [self.term()]
        while self.peek() == "and":
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else lambda user: all(t(user) for t in terms)

    def term(self) -> Predicate:
        if self.peek() == "startswith":
            self.take()
            self.take("(")
            name = self.property()
            self.take(",")
            prefix = _fold(self.literal())
            self.take(")")
            return lambda user: isinstance(v := user.get(name), str) and _fold(v).startswith(prefix)
        name = self.property()
        operator = self.take().lower()
        if operator == "eq":
            wanted = _fold(self.literal())
            return lambda user: _fold(user.get(name)) == wanted
        if operator == "ne" and self.advanced:
            unwanted = _fold(self.literal())
            return lambda user: _fold(user.get(name)) != unwanted
        if operator == "in":
            options = self.literal_list()
            return lambda user: _fold(user.get(name)) in options
        raise unsupported(f"Unsupported or invalid query filter clause specified: '{operator}'.")

    def property(self) -> str:
        name = self.take()
        if name not in self.properties:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{name}' on type"
                f" 'microsoft.graph.{self.entity}'.",
            )
        return name

    def literal(self) -> Any:
        token = self.take()
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if token.lower() in _LITERALS:
            return _LITERALS[token.lower()]
        raise GraphError(400, "BadRequest", f"Invalid filter clause: bad literal '{token}'.")

    def literal_list(self) -> set[Any]:
        self.take("(")
        options = {_fold(self.literal())}
        while self.peek() == ",":
            self.take()
            options.add(_fold(self.literal()))
        self.take(")")
        return options


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def parse_filter(
    raw: str,
    *,
    advanced: bool = False,
    properties: Collection[str] = ALL_PROPERTIES,
    entity: str = "user",
) -> Predicate:
    """Users by default; groups pass their own properties (the same operators apply to a
    group's displayName: learn.microsoft.com/graph/api/resources/group, "Properties")."""
    parser = _Parser(tokenize(raw), advanced, properties, entity)
    predicate = parser.expression()
    if parser.index != len(parser.tokens):
        raise GraphError(400, "BadRequest", "Invalid filter clause: unexpected trailing tokens.")
    return predicate
