"""`m365sync emulate`: run the Graph and PBX emulators until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from emulators.harness import running_emulators

DEFAULT_STATE_DIR = Path("data/emulator")

PBX_NOTES = """\
PBX accounts:
  system admin    pbx_admin / pbx_admin_password
  tenant admin    pbx_tenant_admin (admin@DOMAIN) / pbx_tenant_admin_password
  `m365sync link add --pbx-user admin@DOMAIN` needs the tenant admin's password
  (pbx_tenant_admin_password in emulator.json), not the system admin's.
  Every domain has a hunt group (800), a queue (801) and an IVR node (802), even
  with --extensions 0, as real tenants do: a link whose range covers them skips them.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="m365sync emulate",
        description="Run loopback emulators of Microsoft Graph and a Vodia PBX. Prints one "
        "JSON line with the URLs and credentials (also written to STATE_DIR/emulator.json).",
        epilog=PBX_NOTES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where ca.pem and emulator.json are written (default: %(default)s)",
    )
    parser.add_argument("--graph-port", type=_port, default=0, help="0 picks a free port")
    parser.add_argument("--pbx-port", type=_port, default=0, help="0 picks a free port")
    parser.add_argument("--users", type=_count, default=0, help="directory users to seed")
    parser.add_argument("--extensions", type=_count, default=0, help="PBX extensions to seed")
    parser.add_argument("--seed", type=int, default=1, help="seed for deterministic data")
    parser.add_argument(
        "--pbx-latency-ms",
        type=_count,
        default=0,
        help="added to every PBX request (a real PBX: about 20)",
    )
    parser.add_argument(
        "--allow-http-notifications",
        action="store_true",
        help="test switch: deliver notifications to http:// on loopback (Graph refuses http)",
    )
    parser.add_argument(
        "--lifecycle-faults",
        action="store_true",
        help="fault injection: allow subscriptionRemoved and missed, never sent for users",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 130
    return 0


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with running_emulators(
            args.state_dir,
            graph_port=args.graph_port,
            pbx_port=args.pbx_port,
            users=args.users,
            extensions=args.extensions,
            seed=args.seed,
            pbx_latency_s=args.pbx_latency_ms / 1000,
            graph_options={
                "allow_http_loopback_notifications": args.allow_http_notifications,
                "lifecycle_fault_injection": args.lifecycle_faults,
            },
        ) as emus:
            sys.stdout.write(json.dumps(emus.info, separators=(",", ":")) + "\n")
            sys.stdout.flush()
            # For the person at the terminal; stdout stays one JSON line for scripts.
            sys.stderr.write(_started_note(emus.info, args.state_dir))
            sys.stderr.flush()
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _started_note(info: dict[str, Any], state_dir: Path) -> str:
    return (
        f"emulators running; details in {state_dir / 'emulator.json'}\n"
        f"PBX tenant admin: {info['pbx_tenant_admin']} (password: pbx_tenant_admin_password "
        "in emulator.json); service accounts 800-802 (hunt group, queue, IVR) are seeded "
        "in every domain, even with --extensions 0\n"
    )


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0..65535")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
