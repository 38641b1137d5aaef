"""`resync`, `disable-unmatched`, `approve` and `retry-failed`: a link's work, now."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cli.commands.common import confirm, pick_link, print_json, print_table, run
from cli.commands.errors import UsageError
from cli.commands.parsers import Subcommands
from store import Database
from store.events import retry_failed
from store.models import HeldAction, Link
from store.records import list_held
from worker.errors import SetupRequired
from worker.linkctx import LinkClients, open_link_clients
from worker.operations import (
    Applied,
    approve_held,
    disable_unmatched,
    dry_run,
    preview_disable_unmatched,
    reject_held,
    resync,
)
from worker.planner import Plan
from worker.rounds import Progress, RoundOutcome
from worker.settings import Settings

T = TypeVar("T")


def register(sub: Subcommands) -> None:
    res = sub.add_parser("resync", help="run a round now (or print its plan with --dry-run)")
    res.add_argument("link", nargs="?")
    res.add_argument("--full", action="store_true", help="read every user, not only changes")
    res.add_argument("--sweep", action="store_true", help="full PBX re-read and plan everyone")
    res.add_argument("--dry-run", action="store_true", help="plan only; change nothing")
    res.add_argument("--json", action="store_true", help="print the plan as JSON")
    res.set_defaults(handler=cmd_resync)

    dis = sub.add_parser("disable-unmatched", help="disable extensions no Microsoft 365 user has")
    dis.add_argument("link", nargs="?")
    dis.add_argument("--dry-run", action="store_true", help="show the preview only")
    dis.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    dis.add_argument("--json", action="store_true")
    dis.set_defaults(handler=cmd_disable_unmatched)

    app = sub.add_parser(
        "approve",
        help="carry out (or --reject) disables held by the brake",
        description="Lists the held disables it would carry out and asks before applying them "
        "(--yes for scripts; without a terminal and without --yes nothing is applied, exit 2).",
    )
    app.add_argument("link")
    app.add_argument(
        "--id",
        type=int,
        action="append",
        dest="ids",
        metavar="ID",
        help="only this held id (repeatable; see --list)",
    )
    app.add_argument("--reject", action="store_true", help="reject: the extensions stay enabled")
    app.add_argument("--list", action="store_true", help="only list what is held")
    app.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    app.set_defaults(handler=cmd_approve)

    retry = sub.add_parser("retry-failed", help="queue a link's failed events again")
    retry.add_argument("link", nargs="?")
    retry.set_defaults(handler=cmd_retry_failed)


class TerminalProgress(Progress):
    """Pages read and actions applied, on one line of stderr, only on a TTY."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._line = ""

    def pages(self, pages: int, users: int) -> None:
        self._show(f"reading Graph: {pages} pages, {users} changed users")

    def applying(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        self._show(f"applying [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")

    def _show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r" + text.ljust(len(self._line)))
            sys.stderr.flush()
            self._line = text

    def done(self) -> None:
        if self.enabled and self._line:
            sys.stderr.write("\n")


def _with_clients(
    settings: Settings,
    name: str | None,
    work: Callable[[Database, LinkClients], Awaitable[int]],
) -> int:
    async def main(db: Database) -> int:
        link = await pick_link(db, name)
        try:
            async with await open_link_clients(db, link, settings) as clients:
                return await work(db, clients)
        except SetupRequired as exc:
            print(f"m365sync: {link.name}: Setup Required — {exc.reason}", file=sys.stderr)
            return 1

    return run(settings, main)


def print_plan(plan: Plan) -> None:
    counts = ", ".join(f"{n} {k}" for k, n in plan.counts().items() if n)
    print(f"plan ({plan.kind}): {counts or 'nothing to do'}")
    rows = [
        (
            a.kind.value,
            a.number,
            a.email,
            "; ".join(f"{f}: {o!r} → {n!r}" for f, (o, n) in a.change_map().items()) or a.message,
        )
        for a in plan.actions
    ]
    if rows:
        print_table(["ACTION", "NUMBER", "EMAIL", "DETAIL"], rows)


def cmd_resync(args: argparse.Namespace, settings: Settings) -> int:
    if args.dry_run and args.sweep:
        raise UsageError("--dry-run plans a round; use it with or without --full, not --sweep")

    async def work(db: Database, clients: LinkClients) -> int:
        progress = TerminalProgress()
        if args.dry_run:
            outcome = await dry_run(db, clients, full=args.full, progress=progress)
        else:
            outcome = await resync(
                db, clients, full=args.full, sweep=args.sweep, actor="cli", progress=progress
            )
        progress.done()
        if args.json:
            print_json(outcome.plan.to_json())
        else:
            _summary(clients.link, outcome)
        return 1 if outcome.applied and outcome.applied.failed else 0

    return _with_clients(settings, args.link, work)


def _summary(link: Link, outcome: RoundOutcome) -> None:
    print_plan(outcome.plan)
    if outcome.applied is None:
        print("dry run: nothing was changed")
        return
    applied = outcome.applied
    print(
        f"{link.name}: {outcome.pages} pages, {outcome.users_changed} changed users, "
        f"{applied.ok_count} actions applied, {len(applied.failed)} failed"
        f"{' (full resync after lost delta state)' if outcome.resynced else ''}"
    )
    for action, error in applied.failed:
        print(f"  failed: {action.kind.value} {action.number or ''}: {error}", file=sys.stderr)


def cmd_disable_unmatched(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database, clients: LinkClients) -> int:
        preview = await preview_disable_unmatched(db, clients)
        if args.dry_run or not (preview.writes or preview.held):
            if args.json:
                print_json(preview.to_json())
            else:
                print_plan(preview)
            return 0
        if not args.yes:
            print_plan(preview)
            if not confirm(f"Disable {len(preview.writes)} extensions?"):
                raise UsageError("not confirmed (use --yes to skip the question)")
        result = await disable_unmatched(db, clients, actor="cli")
        _print_applied(result, as_json=args.json)
        return 1 if result.result.failed else 0

    return _with_clients(settings, args.link, work)


def _print_applied(applied: Applied, *, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "plan": applied.plan.to_json(),
                "applied": applied.result.applied,
                "failed": [
                    {"action": a.kind.value, "number": a.number, "error": e}
                    for a, e in applied.result.failed
                ],
            }
        )
        return
    print_plan(applied.plan)
    print(f"{applied.result.ok_count} applied, {len(applied.result.failed)} failed")
    for action, error in applied.result.failed:
        print(f"  failed: {action.kind.value} {action.number or ''}: {error}", file=sys.stderr)


def cmd_approve(args: argparse.Namespace, settings: Settings) -> int:
    if args.list or args.reject:

        async def local(db: Database) -> int:
            link = await pick_link(db, args.link)
            if args.list:
                _print_held(await list_held(db, link.id))
                return 0
            count = await reject_held(db, link, actor="cli", ids=args.ids)
            print(f"{count} held actions rejected")
            return 0

        return run(settings, local)

    async def work(db: Database, clients: LinkClients) -> int:
        chosen = _chosen(await list_held(db, clients.link.id), args.ids)
        if not chosen:
            print(f"{clients.link.name}: nothing is held for approval")
            return 0
        _print_held(chosen)
        if not args.yes and not confirm(f"Carry out these {len(chosen)} held action(s)?"):
            raise UsageError("not confirmed (use --yes to skip the question)")
        # Exactly the ids shown: anything held while the question was open waits.
        result = await approve_held(db, clients, actor="cli", ids=[h.id for h in chosen])
        _print_applied(result, as_json=False)
        return 1 if result.result.failed else 0

    return _with_clients(settings, args.link, work)


def _chosen(held: list[HeldAction], ids: list[int] | None) -> list[HeldAction]:
    if ids is None:
        return held
    by_id = {h.id: h for h in held}
    unknown = sorted(set(ids) - set(by_id))
    if unknown:
        listed = ", ".join(str(i) for i in unknown)
        raise UsageError(f"nothing held with id {listed} (see `m365sync approve LINK --list`)")
    return [by_id[i] for i in sorted(set(ids))]


def _print_held(held: list[HeldAction]) -> None:
    print_table(
        ["ID", "ACTION", "NUMBER", "EMAIL", "REASON"],
        [
            (
                h.id,
                h.action.get("held_action"),
                h.action.get("number"),
                h.action.get("email"),
                h.reason,
            )
            for h in held
        ],
    )


def cmd_retry_failed(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        link = await pick_link(db, args.link)
        count = await retry_failed(db, link.id)
        print(f"{count} failed events queued again for {link.name}")
        return 0

    return run(settings, work)
