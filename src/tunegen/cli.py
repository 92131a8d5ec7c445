"""The `tunegen` command line: a thin layer that parses options and calls library functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tunegen import __version__
from tunegen.errors import CorpusError, TunegenError

if TYPE_CHECKING:  # the library modules import numpy and music21: slow for `tunegen --help`
    from tunegen.render import RenderOptions


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


def add_render_options(parser: argparse.ArgumentParser) -> None:
    """Add the rendering options shared by `render` and `generate --render` (not --force,
    which each command has with its own help)."""
    from tunegen.music.synth import SYNTHS

    group = parser.add_argument_group("rendering")
    group.add_argument(
        "--synth",
        choices=SYNTHS,
        default="auto",
        help="WAV synthesizer: fluidsynth if installed with a GM soundfont (auto), or builtin",
    )
    group.add_argument("--soundfont", type=Path, help="General MIDI .sf2 file for fluidsynth")
    group.add_argument(
        "--program",
        type=_midi_program,
        default=0,
        metavar="N",
        help="General MIDI program of the melody, 0-127 (default 0, piano)",
    )
    group.add_argument(
        "--no-chords", action="store_true", help="do not play the chord symbols in quotes"
    )


def _midi_program(text: str) -> int:
    if not text.isdigit() or int(text) > 127:
        raise argparse.ArgumentTypeError(f"{text!r} is not a General MIDI program (0-127)")
    return int(text)


def render_options_from_args(args: argparse.Namespace, formats: str) -> RenderOptions:
    """RenderOptions from `add_render_options`'s options, --force and a 'midi,wav,svg' list."""
    from tunegen.music.performance import PlayOptions
    from tunegen.render import RenderOptions, parse_formats

    return RenderOptions(
        formats=parse_formats(formats),
        synth=args.synth,
        play=PlayOptions(program=args.program, chords=not args.no_chords),
        soundfont=args.soundfont,
        force=args.force,
    )


def run_render(args: argparse.Namespace) -> int:
    from tunegen.music.abc import read_abc_file
    from tunegen.render import render_tunebook

    options = render_options_from_args(args, args.formats)
    if not args.file.is_file():
        raise CorpusError(f"{args.file}: no such file")
    tunes, read_report = read_abc_file(args.file, keep_metadata=True)
    for problem in read_report.problems:
        print(f"tunegen: {problem}", file=sys.stderr)
    if not tunes:
        raise CorpusError(f"{args.file}: no tunes to render")
    out_dir = args.out or Path(f"{args.file.stem}-render")
    report = render_tunebook(tunes, out_dir, options)
    print(report.summary())
    return 0 if report.any_rendered else 2


def add_render(commands: argparse._SubParsersAction) -> None:
    """`tunegen render FILE.abc`: MIDI, WAV, SVG and a tunebook page for every tune."""
    parser = commands.add_parser(
        "render",
        help="render an ABC tunebook to MIDI, WAV, SVG sheet music and index.html",
        description="Render every tune of an ABC file to MIDI, WAV and SVG sheet music, "
        "with index.html, a tunebook page that works opened from disk.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.abc", help="ABC tunebook")
    parser.add_argument(
        "--formats", default="midi,wav,svg", help="comma-separated: midi,wav,svg (default all)"
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: FILE-render in the current folder)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite files in the output folder")
    add_render_options(parser)
    parser.set_defaults(handler=run_render)


COMMANDS: list = [add_render]

if __name__ == "__main__":
    sys.exit(main())
