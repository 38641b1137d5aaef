"""The `m365sync` command line.

Exit statuses: 0 success, 1 failure, 2 usage or configuration error (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cli.commands.errors import UsageError
from worker.settings import Settings, SettingsError

Command = Callable[[argparse.Namespace, Settings], int]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="m365sync",
        description="Keep a Vodia PBX's extensions in step with Microsoft 365 users.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from cli import commands  # the subcommands register themselves

    commands.register(sub)
    # Listed for --help; main() hands `emulate` to the emulators before parsing.
    sub.add_parser("emulate", help="run the Graph and PBX emulators (see: emulate --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "emulate":
        # The emulators are a separate product with their own settings; they
        # must start without the daemon's environment being valid.
        from emulators.main import main as emulate_main

        return emulate_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"m365sync: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    import os

    from worker.logs import command_logging, configure_logging

    log_format, log_level = command_logging(
        args.command, settings.log_format, settings.log_level, os.environ
    )
    configure_logging(log_format, log_level, stream=sys.stderr)
    handler: Command = args.handler
    try:
        return handler(args, settings)
    except UsageError as exc:
        print(f"m365sync: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from store import SecretKeyError, StoreError

        if isinstance(exc, SecretKeyError | StoreError):
            print(f"m365sync: error: {exc}", file=sys.stderr)
            return EXIT_USAGE if isinstance(exc, SecretKeyError) else EXIT_FAILURE
        raise


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy, so exception classes match.
    from cli.cli import main as cli_main

    sys.exit(cli_main())
