"""`tunegen render`, and the rendering options it shares with `generate --render`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tunegen.errors import CorpusError

if TYPE_CHECKING:  # the library modules import numpy and music21: slow for `tunegen --help`
    from tunegen.render.tunebook import RenderOptions


def add_render_options(parser: argparse.ArgumentParser) -> None:
    """Add the rendering options shared by `render` and `generate --render` (not --force,
    which each command has with its own help)."""
    from tunegen.render.synth import SYNTHS

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
    from tunegen.render.performance import PlayOptions
    from tunegen.render.tunebook import RenderOptions, parse_formats

    return RenderOptions(
        formats=parse_formats(formats),
        synth=args.synth,
        play=PlayOptions(program=args.program, chords=not args.no_chords),
        soundfont=args.soundfont,
        force=args.force,
    )


def run_render(args: argparse.Namespace) -> int:
    options = render_options_from_args(args, args.formats)
    return render_file(args.file, args.out or Path(f"{args.file.stem}-render"), options)


def render_file(path: Path, out_dir: Path, options: RenderOptions) -> int:
    """Render every tune of an ABC file into out_dir; exit code 0 if any tune rendered."""
    from tunegen.music.abc import decode_abc_bytes
    from tunegen.render.tunebook import render_abc_text

    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    text, notes = decode_abc_bytes(path.read_bytes(), str(path))
    for note in notes:
        print(f"tunegen: {note}", file=sys.stderr)
    report = render_abc_text(text, out_dir, options, str(path))
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
