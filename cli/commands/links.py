"""`m365sync link add|list|show|set|check|remove`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.commands.common import (
    confirm,
    pick_link,
    print_json,
    print_table,
    read_secret,
    run,
    when,
)
from cli.commands.errors import UsageError
from cli.commands.parsers import Subcommands
from store import Database
from store.links import EDITABLE_LINK_FIELDS, delete_link, secret_names, set_secret, update_link
from store.models import AuthMode, NewLink
from store.subscriptions import link_subscriptions
from worker.linkadmin import add_link, check_link, save_settings
from worker.linkctx import CLIENT_CERTIFICATE, CLIENT_SECRET, PBX_PASSWORD
from worker.planner import PolicyError
from worker.settings import Settings


def register(sub: Subcommands) -> None:
    link = sub.add_parser("link", help="add, list, show, change or remove links")
    actions = link.add_subparsers(dest="link_command", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="pair a Microsoft 365 tenant with a PBX domain")
    add.add_argument("name")
    add.add_argument(
        "--tenant-id",
        required=True,
        help="Entra tenant id (GUID) or domain; a domain is stored as its GUID once checked",
    )
    add.add_argument("--client-id", required=True, help="application (client) id")
    add.add_argument(
        "--auth",
        choices=[m.value for m in AuthMode],
        default="application",
        help="application: the app's own permission (client secret or --certificate); "
        "delegated: an admin signs in with OAuth Token on the admin page "
        "(default: %(default)s)",
    )
    add.add_argument("--pbx-url", required=True, help="e.g. https://pbx.example.com")
    add.add_argument("--pbx-domain", required=True, help="the Vodia tenant (domain)")
    add.add_argument("--pbx-user", help="PBX administrator (default admin@DOMAIN)")
    add.add_argument(
        "--authority-url",
        default="https://login.microsoftonline.com",
        help="Microsoft identity platform; change only for a national cloud or the "
        "emulator (default: %(default)s)",
    )
    add.add_argument(
        "--graph-url",
        default="https://graph.microsoft.com",
        help="Microsoft Graph; change only for a national cloud or the emulator "
        "(default: %(default)s)",
    )
    add.add_argument("--ca-bundle", type=Path, help="extra CA bundle for both peers")
    add.add_argument("--certificate", type=Path, help="PEM with the app's certificate and key")
    add.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a link setting"
    )
    add.add_argument("--no-check", action="store_true", help="store without verifying")
    add.set_defaults(handler=cmd_add)

    lst = actions.add_parser("list", help="all links and their state")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)

    show = actions.add_parser("show", help="one link's configuration (never its secrets)")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)

    sett = actions.add_parser("set", help="change settings (KEY=VALUE) or rotate secrets")
    sett.add_argument("name")
    sett.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    sett.add_argument("--pbx-password", action="store_true", help="enter a new PBX password")
    sett.add_argument("--client-secret", action="store_true", help="enter a new client secret")
    sett.add_argument("--certificate", type=Path, help="store a new certificate PEM")
    sett.set_defaults(handler=cmd_set)

    check = actions.add_parser("check", help="verify both sides and activate the link")
    check.add_argument("name")
    check.set_defaults(handler=cmd_check)

    remove = actions.add_parser("remove", help="forget a link (the PBX is not touched)")
    remove.add_argument("name")
    remove.add_argument("--yes", action="store_true", help="do not ask")
    remove.set_defaults(handler=cmd_remove)


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"expected KEY=VALUE, got {pair!r}")
        settings[key.strip()] = value.strip()
    return settings


def _read_pem(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    certificate = _read_pem(args.certificate) if args.certificate else None
    client_secret = None
    if certificate is None:
        client_secret = read_secret("M365SYNC_CLIENT_SECRET", "Client secret")
    pbx_password = read_secret("M365SYNC_PBX_PASSWORD", "PBX password")
    assert pbx_password is not None
    new = NewLink(
        name=args.name,
        tenant_id=args.tenant_id,
        client_id=args.client_id,
        auth_mode=AuthMode(args.auth),
        pbx_url=args.pbx_url.rstrip("/"),
        pbx_domain=args.pbx_domain,
        pbx_user=args.pbx_user or f"admin@{args.pbx_domain}",
        authority_url=args.authority_url,
        graph_url=args.graph_url,
        ca_bundle=str(args.ca_bundle) if args.ca_bundle else None,
        settings=parse_pairs(args.set),
    )

    async def work(db: Database) -> int:
        try:
            link = await add_link(
                db,
                new,
                pbx_password=pbx_password,
                client_secret=client_secret,
                certificate_pem=certificate,
            )
        except PolicyError as exc:
            raise UsageError(f"setting {exc}") from None
        print(f"link {link.name!r} added (id {link.id})")
        if args.no_check:
            return 0
        return await _report_check(db, link.id, settings)

    return run(settings, work)


async def _report_check(db: Database, link_id: int, settings: Settings) -> int:
    link = await check_link(db, link_id, settings)
    if link.state.value == "active":
        print(f"{link.name}: Integration active")
        return 0
    print(f"{link.name}: Setup Required — {link.state_reason}")
    return 1


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        from store.links import list_links

        links = await list_links(db)
        if args.json:
            print_json([_describe(link) for link in links])
            return 0
        print_table(
            ["NAME", "STATE", "PBX DOMAIN", "TENANT", "AUTH"],
            [
                (
                    link.name,
                    "active" if link.state.value == "active" else "Setup Required",
                    link.pbx_domain,
                    link.tenant_id,
                    link.auth_mode.value,
                )
                for link in links
            ],
        )
        return 0

    return run(settings, work)


def _describe(link: Any) -> dict[str, Any]:
    return {
        "id": link.id,
        "name": link.name,
        "state": link.state.value,
        "state_reason": link.state_reason,
        "tenant_id": link.tenant_id,
        "client_id": link.client_id,
        "auth_mode": link.auth_mode.value,
        "authority_url": link.authority_url,
        "graph_url": link.graph_url,
        "pbx_url": link.pbx_url,
        "pbx_domain": link.pbx_domain,
        "pbx_user": link.pbx_user,
        "ca_bundle": link.ca_bundle,
        "settings": dict(link.settings),
    }


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        link = await pick_link(db, args.name)
        data = _describe(link)
        data["secrets_stored"] = await secret_names(db, link.id)
        subs = await link_subscriptions(db, link.id)
        data["subscription"] = (
            {"id": subs[0].id, "expires": when(subs[0].expires_at)} if subs else None
        )
        if args.json:
            print_json(data)
            return 0
        for key, value in data.items():
            print(f"{key:>16}: {value}")
        return 0

    return run(settings, work)


def cmd_set(args: argparse.Namespace, settings: Settings) -> int:
    pairs = parse_pairs(args.pairs)
    link_fields = {k: pairs.pop(k) for k in list(pairs) if k in _LINK_FIELDS}
    pbx_password = (
        read_secret("M365SYNC_PBX_PASSWORD", "PBX password") if args.pbx_password else None
    )
    client_secret = (
        read_secret("M365SYNC_CLIENT_SECRET", "Client secret") if args.client_secret else None
    )
    certificate = _read_pem(args.certificate) if args.certificate else None

    async def work(db: Database) -> int:
        link = await pick_link(db, args.name)
        if link_fields:
            if "auth_mode" in link_fields:
                link_fields["auth_mode"] = AuthMode(link_fields["auth_mode"])
            link = await update_link(db, link.id, **link_fields)
        if pairs:
            try:
                link = await save_settings(db, link.id, {**link.settings, **pairs})
            except PolicyError as exc:
                raise UsageError(f"setting {exc}") from None
        for name, value in (
            (PBX_PASSWORD, pbx_password),
            (CLIENT_SECRET, client_secret),
            (CLIENT_CERTIFICATE, certificate),
        ):
            if value:
                await set_secret(db, link.id, name, value)
        print(f"link {link.name!r} updated")
        if pbx_password or client_secret or certificate or link_fields:
            return await _report_check(db, link.id, settings)
        return 0

    return run(settings, work)


# `link set KEY=VALUE` changes these link fields (renaming is not offered); any other key
# is a policy setting.
_LINK_FIELDS = EDITABLE_LINK_FIELDS - {"name"}


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        link = await pick_link(db, args.name)
        return await _report_check(db, link.id, settings)

    return run(settings, work)


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        link = await pick_link(db, args.name)
        if not args.yes and not confirm(
            f"Forget link {link.name!r} and its history? The PBX's extensions stay as they are."
        ):
            raise UsageError("not confirmed (use --yes to skip the question)")
        await delete_link(db, link.id)
        print(f"link {link.name!r} removed")
        return 0

    return run(settings, work)
