"""The `tunegen` command line: a thin layer that parses options and calls library functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tunegen import __version__
from tunegen.errors import TunegenError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunegen", description="Learn music from ABC and MIDI and compose new tunes."
    )
    parser.add_argument("--version", action="version", version=f"tunegen {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except TunegenError as err:
        print(f"tunegen: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tunegen: interrupted", file=sys.stderr)
        return 130


COMMANDS: list = []

if __name__ == "__main__":
    sys.exit(main())
