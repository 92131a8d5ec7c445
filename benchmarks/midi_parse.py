"""MIDI preprocessing speed: the seed003 write-up's music21 loop against tunegen's symusic path.

Writes 500 MIDI files from music21's corpus (the Bach chorales through music21's MIDI writer,
then O'Neill's tunes through tunegen's ABC renderer) to a temporary folder, then times on the
same files: the write-up's loop (`converter.parse`, `instrument.partitionByInstrument`, notes and
chords to strings; forceSource=True, so music21 neither reads nor writes its pickle cache),
tunegen's reader with no cache, filling an empty cache, and from the cache.

    python benchmarks/midi_parse.py [--files 500] [--folder DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tunegen.data.midi_corpus import bach_chorale_files, read_midi_corpus
from tunegen.music.abc import read_corpus
from tunegen.music.midi import EventCodec
from tunegen.music.midi_io import performance_to_midi
from tunegen.render.performance import abc_to_performance


def write_files(folder: Path, count: int) -> list[Path]:
    """`count` MIDI files from music21's corpus: chorales first, then O'Neill's tunes."""
    from music21 import converter

    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for source in bach_chorale_files()[:count]:
        path = folder / f"{source.stem}.mid"
        if not path.exists():
            converter.parse(source).write("midi", fp=path)
        paths.append(path)
    for i, tune in enumerate(read_corpus(["oneills1850"]).tunes[: count - len(paths)]):
        path = folder / f"oneills-{i:04d}.mid"
        if not path.exists():
            path.write_bytes(performance_to_midi(abc_to_performance(tune.abc(1))))
        paths.append(path)
    return paths


def writeup_loop(paths: list[Path]) -> int:
    """The write-up's get_notes(): every note and chord of each file as a string."""
    from music21 import chord, converter, instrument, note

    notes: list[str] = []
    for path in paths:
        midi = converter.parse(path, forceSource=True)  # no pickle: parse every file
        parts = instrument.partitionByInstrument(midi)
        elements = parts.parts[0].recurse() if parts else midi.flatten().notes
        for element in elements:
            if isinstance(element, note.Note):
                notes.append(str(element.pitch))
            elif isinstance(element, chord.Chord):
                notes.append(".".join(str(n) for n in element.normalOrder))
    return len(notes)


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--folder", type=Path, help="keep the MIDI files here (reused if there)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp) / "midi"
        seconds, paths = timed(lambda: write_files(folder, args.files))
        print(f"{len(paths)} MIDI files in {folder} ({seconds:.0f} s to write)")
        codec = EventCodec("seed003", grid=4, parts="all")
        cache = Path(tmp) / "cache"
        specs = [str(folder)]
        rows = [
            ("write-up loop (music21 converter.parse)", *timed(lambda: writeup_loop(paths))),
            ("tunegen, symusic, no cache", *timed(lambda: read_midi_corpus(specs, codec))),
            ("tunegen, filling the cache", *timed(lambda: read_midi_corpus(specs, codec, cache))),
            ("tunegen, second run (cached)", *timed(lambda: read_midi_corpus(specs, codec, cache))),
        ]
    base = rows[0][1]
    print(f"\n| path ({len(paths)} files) | seconds | files/s | speed-up |")
    print("|---|---:|---:|---:|")
    for name, seconds, _ in rows:
        print(f"| {name} | {seconds:.2f} | {len(paths) / seconds:,.0f} | {base / seconds:,.1f}x |")
    corpus = rows[1][2]
    print(f"\nwrite-up: {rows[0][2]:,} note/chord strings; tunegen: {corpus.report.summary()}")


if __name__ == "__main__":
    main()
