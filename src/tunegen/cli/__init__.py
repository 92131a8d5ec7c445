"""The `tunegen` command line: a thin layer that parses options and calls library functions."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from tunegen import __version__
from tunegen.cli.checkpoints import add_export, add_info, add_serve
from tunegen.cli.evaluate import add_evaluate
from tunegen.cli.generate import add_generate
from tunegen.cli.render import add_render
from tunegen.cli.train import add_train, flag
from tunegen.errors import SettingError, TunegenError
from tunegen.runtime.threads import prepare_environment

COMMANDS = [add_train, add_generate, add_info, add_render, add_evaluate, add_export, add_serve]
INTERRUPTED = 130  # the exit status of a run that Ctrl-C ended
_exit_status: list[int] = []  # set by run(): the status the process leaves with


def _leave_with_status() -> None:
    """Registered when this module loads, before torch or multiprocessing register theirs, so
    that it runs after their cleanup: a run that Ctrl-C ended leaves with status 130. CPython
    would end it by SIGINT instead (status -2) when the interrupt landed in Python code that an
    extension ran while importing (a mark that nothing clears, checked after cleanup)."""
    if _exit_status == [INTERRUPTED]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED)


atexit.register(_leave_with_status)


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a bad option reported as one line (and exit code 2), like every error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
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
    # before any handler imports torch or numpy, whose thread pools read the variables once
    prepare_environment(getattr(args, "threads", None))
    try:
        return args.handler(args)
    except SettingError as err:  # the library names settings; the user knows them as flags
        print(f"tunegen: error: {err.spelled(flag)}", file=sys.stderr)
        return 2
    except TunegenError as err:
        print(f"tunegen: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only folder, a full disk: the user's to fix, in one line
        where = f"{err.filename}: " if err.filename else ""
        print(f"tunegen: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before training saved anything (reading, starting up)
        print("tunegen: interrupted", file=sys.stderr)
        return INTERRUPTED


def run() -> NoReturn:
    """The `tunegen` command and `python -m tunegen`: main(), its code the process's status."""
    try:
        code = main()
    except KeyboardInterrupt:  # before main's own handler: while the options are read
        print("tunegen: interrupted", file=sys.stderr)
        code = INTERRUPTED
    _exit_status.append(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
