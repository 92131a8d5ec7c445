"""Seconds to render tunes from music21's Ryan's Mammoth Collection: per format and in all.

Run: PYTHONPATH=src python benchmarks/render_speed.py [--tunes N]. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tunegen.music.abc import read_corpus
from tunegen.render.tunebook import FORMATS, RenderOptions, render_tunebook


def seconds(tunes, formats: tuple[str, ...]) -> tuple[float, int]:
    """Wall seconds to render `tunes` to `formats` with the builtin synth, and tunes rendered."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = render_tunebook(tunes, Path(out), RenderOptions(formats, synth="builtin"))
        elapsed = time.perf_counter() - start
    return elapsed, min(report.rendered(fmt) for fmt in formats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tunes", type=int, default=100)
    args = parser.parse_args()
    tunes = read_corpus(["ryansMammoth"], keep_metadata=True).tunes[: args.tunes]
    print("| formats | tunes | rendered | seconds |\n|---|---|---|---|")
    for formats in [(fmt,) for fmt in FORMATS] + [FORMATS]:
        elapsed, rendered = seconds(tunes, formats)
        print(f"| {','.join(formats)} | {len(tunes)} | {rendered} | {elapsed:.1f} |")


if __name__ == "__main__":
    main()
