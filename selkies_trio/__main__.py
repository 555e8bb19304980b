"""`python -m selkies_trio serve [options]`: run the streaming server."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import trio

from . import __version__
from .settings import SPECS, SettingsError, add_arguments, resolve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m selkies_trio",
        description="Remote-desktop and game streaming over WebRTC, on trio.",
    )
    parser.add_argument("--version", action="version", version=f"selkies-trio {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the server",
        description=(
            "Run the streaming server. Every option can also be given as an environment "
            "variable SELKIES_<NAME>; the command line wins over the environment."
        ),
    )
    add_arguments(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cli = {spec.name: getattr(args, spec.name, None) for spec in SPECS}
    try:
        settings = resolve(cli, os.environ)
    except SettingsError as error:
        print(f"selkies-trio: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from .app.serve import serve
    from .runtime.service import ServiceError

    refused: list[str] = []
    interrupted = False
    try:
        trio.run(serve, settings)
    except* KeyboardInterrupt:  # a second Ctrl-C while stopping
        interrupted = True
    except* ServiceError as group:
        refused += [str(error) for error in group.exceptions]
    if interrupted:
        return 130
    if refused:
        print(f"selkies-trio: {refused[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
