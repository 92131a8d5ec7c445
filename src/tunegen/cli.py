"""The `tunegen` command line: a thin layer that parses options and calls library functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tunegen import __version__
from tunegen.errors import TunegenError, UsageError


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


def register_evaluate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="score generated tunes against a corpus (validity, metre, novelty, style)",
        description="Evaluate generated ABC tunes (or a folder of .mid files) against a corpus.",
    )
    parser.add_argument("checkpoint", nargs="?", help="a model checkpoint to score")
    parser.add_argument("--tunes", help="generated tunes: .abc file, folder or glob, or .mid files")
    parser.add_argument("--against", help="corpus: bundled name, file, folder or glob; join with +")
    parser.add_argument("--out", type=Path, help="report folder (default: TUNES-eval next to it)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing report")
    parser.add_argument(
        "--no-validity", action="store_true", help="skip the (slow) music21 and verovio parse"
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="worker processes for the validity pass (default 2)"
    )
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint, or generated tunes against a corpus, and write the report."""
    if args.checkpoint is None and args.tunes is None:
        raise UsageError("evaluate needs a CHECKPOINT or --tunes FILE")
    if args.checkpoint is not None:
        # Held-out loss, bits per character and perplexity of a checkpoint: the ML core fills this.
        raise UsageError(f"{args.checkpoint}: checkpoint evaluation is not in this build yet")
    if args.against is None:
        raise UsageError("--tunes needs --against CORPUS to compare with")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    from tunegen.evaluate import evaluate, load_generated  # local: pulls in numpy and music21
    from tunegen.evaluate_report import headline, write_report
    from tunegen.music.abc import read_corpus

    generated = load_generated(args.tunes)
    corpus = read_corpus([args.against])
    report = evaluate(generated, corpus, validity=not args.no_validity, jobs=args.jobs)
    tunes = Path(args.tunes.rstrip("/"))
    folder = args.out or tunes.with_name(f"{tunes.stem}-eval")
    write_report(report, folder, force=args.force)
    print("\n".join(headline(report)))
    print(f"report: {folder / 'report.md'}")
    return 0


COMMANDS: list = [register_evaluate]

if __name__ == "__main__":
    sys.exit(main())
