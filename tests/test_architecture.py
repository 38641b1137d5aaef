"""The package map in docs/architecture.md, checked against the imports of every module.

Read with `ast` (no module is imported), so an import anywhere in a module counts: at the
top, inside a function, or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("admin", "cli", "edge", "webhook", "worker", "store", "emulators")
# Who may import whom (besides itself). The command line puts everything together
# (`demo` and `emulate` start the emulators); nothing imports it.
ALLOWED = {
    "cli": {"admin", "edge", "webhook", "worker", "store", "emulators"},
    "admin": {"edge", "worker", "store"},
    "webhook": {"edge", "worker", "store"},
    # Reading untrusted input, below both HTTP surfaces; it counts refusals in worker.metrics.
    "edge": {"worker"},
    "worker": {"store"},
    "store": set(),
    "emulators": set(),
}
PLANNER = "worker.planner"
# The planner is pure: plain values in, a plan out. It may use the store's value types.
PLANNER_MAY_IMPORT = ("worker.planner", "store.models")
IO_MODULES = frozenset(
    {
        "aiohttp",
        "aiosmtplib",
        "aiosqlite",
        "asyncio",
        "azure",
        "http",
        "io",
        "msal",
        "os",
        "pathlib",
        "requests",
        "shutil",
        "smtplib",
        "socket",
        "sqlite3",
        "ssl",
        "subprocess",
        "urllib",
    }
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module `name` imports, absolute; `from x import y` counts y when it is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in MODULES else base


def _graph() -> dict[str, set[str]]:
    return {
        name: {m for m in _imports(name, path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }


def test_packages_import_only_in_the_allowed_directions() -> None:
    wrong = []
    for name, path in MODULES.items():
        own = name.split(".")[0]
        for imported in _imports(name, path):
            top = imported.split(".")[0]
            if top in PACKAGES and top != own and top not in ALLOWED[own]:
                wrong.append(f"{name} -> {imported}")
    assert not wrong, "imports against the package map:\n" + "\n".join(sorted(wrong))


def test_the_planner_imports_no_io() -> None:
    wrong = []
    for name, path in MODULES.items():
        if name != PLANNER and not name.startswith(PLANNER + "."):
            continue
        for imported in _imports(name, path):
            top = imported.split(".")[0]
            if (
                top in PACKAGES and not imported.startswith(PLANNER_MAY_IMPORT)
            ) or top in IO_MODULES:
                wrong.append(f"{name} -> {imported}")
    assert not wrong, "the planner must stay pure:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [sorted(c) for c in _strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (the module graph is deep enough for recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found
