"""`m365sync status`: per link, is it working? Exits 1 when a link needs attention, so
cron or a monitoring agent can use it."""

from __future__ import annotations

import argparse
import time
from typing import Any

from cli.commands.common import print_json, print_table, run, when
from cli.commands.parsers import Subcommands
from store import Database
from store.leases import LeaseRow
from store.links import list_links
from store.models import Link, LinkState
from worker.leasing import current_wait, waiting_text
from worker.polling import poll_mode
from worker.settings import Settings
from worker.status import LinkStatus, link_status


def register(sub: Subcommands) -> None:
    status = sub.add_parser("status", help="each link's state; exit 1 if one needs attention")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)


def status_json(status: LinkStatus, settings: Settings) -> dict[str, Any]:
    link, sub = status.link, status.subscription
    if sub is not None:
        subscription: dict[str, Any] | str = {
            "id": sub.id,
            "expires_at": when(sub.expires_at),
            "expires_in_h": round((sub.expires_at - time.time()) / 3600, 1),
        }
    elif settings.public_url:
        subscription = "none yet"
    else:
        subscription = "none: M365SYNC_PUBLIC_URL is not set, changes arrive by polling"
    last, sweep = status.last_round, status.last_sweep
    mode = poll_mode(settings, link.settings)
    return {
        "link": link.name,
        "state": "active" if link.state is LinkState.ACTIVE else "setup_required",
        "state_reason": link.state_reason,
        "subscription": subscription,
        "last_round": when(last.finished_at) if last else "never",
        "last_round_outcome": last.outcome if last else None,
        "last_sweep": when(sweep.finished_at) if sweep else "never",
        "mode": mode.name,
        "poll_interval_s": mode.interval_s,
        "mode_text": mode.text,
        "last_notification": when(status.last_notification_at)
        if status.last_notification_at
        else "never",
        "last_poll": when(status.last_poll_at) if status.last_poll_at else "never",
        # Due now or being worked; rechecks and retries waiting for later are apart.
        "queue_depth": status.queue_pending,
        "queue_scheduled": status.queue_scheduled,
        "oldest_pending_s": round(time.time() - status.oldest_pending_at, 1)
        if status.oldest_pending_at
        else None,
        "failed_events": status.events_failed,
        "held_actions": status.held,
        "last_error": status.last_error,
        "lease": _lease(status.lease),
    }


def _lease(lease: LeaseRow | None) -> dict[str, Any] | None:
    """Who holds the link's lease now, and whether a worker waits for it."""
    if lease is None or lease.until <= time.time():
        return None
    holder = lease.holder
    wait = current_wait(lease)
    return {
        "owner": lease.owner,
        "pid": holder.pid if holder else None,
        "host": holder.host if holder else None,
        "until": when(lease.until),
        "heartbeat_at": when(lease.beat_at) if lease.beat_at else None,
        "waiting": waiting_text(wait) if wait else None,
        "waiting_since": when(wait.waiting_since) if wait and wait.waiting_since else None,
    }


async def status_of(db: Database, link: Link, settings: Settings) -> dict[str, Any]:
    """One link's line of `m365sync status --json`."""
    return status_json(await link_status(db, link), settings)


def needs_attention(status: dict[str, Any]) -> bool:
    return bool(status["state"] != "active" or status["failed_events"] > 0)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        statuses = [await status_of(db, link, settings) for link in await list_links(db)]
        if args.json:
            print_json(statuses)
        elif not statuses:
            print("no links yet; add one with `m365sync link add`")
        else:
            print_table(
                ["LINK", "STATE", "DUE", "LATER", "FAILED", "HELD", "LAST ROUND", "LAST SWEEP"],
                [
                    (
                        s["link"],
                        "Integration active"
                        if s["state"] == "active"
                        else f"Setup Required: {s['state_reason']}",
                        s["queue_depth"],
                        s["queue_scheduled"],
                        s["failed_events"],
                        s["held_actions"],
                        f"{s['last_round']} ({s['last_round_outcome'] or '-'})",
                        s["last_sweep"],
                    )
                    for s in statuses
                ],
            )
            for s in statuses:
                print(f"{s['link']}: subscription: {s['subscription']}")
                print(
                    f"{s['link']}: mode: {s['mode_text']}; last notification:"
                    f" {s['last_notification']}; last poll: {s['last_poll']}"
                )
                if s["lease"] and s["lease"]["waiting"]:
                    print(f"{s['link']}: {s['lease']['waiting']}")
                if s["last_error"]:
                    print(f"{s['link']}: last error: {s['last_error']}")
        return 1 if any(needs_attention(s) for s in statuses) else 0

    return run(settings, work)
