"""`m365sync doctor [LINK] [--json]`: every check of a link (or of all links), one line each.

Exit 0 when every check passed, 1 when one failed, 2 for a usage error (no such link)."""

from __future__ import annotations

import argparse

from cli.commands.common import pick_link, print_json, run
from cli.commands.errors import UsageError
from cli.commands.parsers import Subcommands
from store import Database
from store.links import list_links
from worker.doctor import Report, run_doctor
from worker.settings import Settings


def register(sub: Subcommands) -> None:
    doctor = sub.add_parser(
        "doctor", help="check a link end to end and say how to fix what fails (read-only)"
    )
    doctor.add_argument("link", nargs="?", help="the link's name (default: every link)")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(handler=cmd_doctor)


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        if args.link:
            links = [await pick_link(db, args.link)]
        else:
            links = await list_links(db)
            if not links:
                raise UsageError("no links yet; add one with `m365sync link add`")
        reports: list[Report] = [await run_doctor(db, link, settings) for link in links]
        if args.json:
            print_json([report.to_json() for report in reports])
        else:
            for index, report in enumerate(reports):
                if index:
                    print()
                print("\n".join(report.lines()))
        return 0 if all(report.ok for report in reports) else 1

    return run(settings, work)
