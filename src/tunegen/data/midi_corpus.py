"""MIDI corpora -> quantised pieces, with an on-disk cache keyed by file content and settings.

The bundled corpus `bach-chorales` is music21's Bach chorales (MusicXML), converted once through
music21 into the same parts as a MIDI file and cached, so training needs no download.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunegen.errors import CorpusError
from tunegen.music.abc import ReadReport
from tunegen.music.files import resolve_paths
from tunegen.music.midi import EventCodec, Part, read_midi_parts
from tunegen.runtime.fileio import ensure_folder, write_atomically

BUNDLED_MIDI = ("bach-chorales",)
MIDI_SUFFIXES = (".mid", ".midi")
CACHE_VERSION = 2  # bump when the cached notes of a file would change
CACHE_ENV = "TUNEGEN_CACHE_DIR"
ANNOUNCE_MISSES = 20  # say why a run is slow when this many files are not cached yet


@dataclass(frozen=True)
class Piece:
    """One file's quantised notes (int32 [N, 3]: onset, pitch, duration steps) and its text."""

    notes: np.ndarray
    text: str
    source: str


@dataclass
class MidiCorpus:
    """Pieces read from one or more sources, with the read report and a description."""

    pieces: list[Piece]
    report: ReadReport
    description: str


def cache_dir() -> Path:
    """$TUNEGEN_CACHE_DIR, else $XDG_CACHE_HOME/tunegen, else ~/.cache/tunegen."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tunegen"


def bach_chorale_files() -> list[Path]:
    """music21's bundled Bach chorales (MusicXML, one file per chorale)."""
    from music21 import corpus  # local import: music21 is slow to import

    paths = [Path(p) for p in corpus.getComposer("bach")]
    return sorted(p for p in paths if p.suffix == ".mxl" and p.parent.name == "bach")


def score_parts(path: Path) -> list[Part]:
    """The parts of a score music21 can read (MusicXML), tied notes merged, as `Part`s."""
    from music21 import converter  # local import: music21 is slow to import

    try:
        score = converter.parse(path)
    except Exception as err:  # music21 raises many kinds; any of them means "cannot read"
        raise CorpusError(f"{path}: music21 cannot read it ({type(err).__name__})") from None
    parts = []
    for part in score.parts:
        rows = [
            (float(element.offset), pitch.midi, float(element.quarterLength))
            for element in part.stripTies().flatten().notes
            for pitch in element.pitches
        ]
        notes = np.array(rows, dtype=np.float64).reshape(-1, 3)
        parts.append(Part(part.partName or "", False, notes))
    return parts


def resolve_midi_files(spec: str) -> list[Path]:
    """Files named by `spec`: `bach-chorales`, a MIDI file, a folder, or a glob pattern."""
    if spec == "bach-chorales":
        return bach_chorale_files()
    return resolve_paths(spec, MIDI_SUFFIXES, BUNDLED_MIDI)


def _cache_path(data: bytes, codec: EventCodec, folder: Path) -> Path:
    """The cache entry's path without suffix: .npy holds the notes, .skip why a file is unusable
    (plain .npy, not .npz: loading a zip costs more than symusic parsing a small file)."""
    settings = json.dumps([CACHE_VERSION, codec.grid, codec.parts]).encode()
    key = hashlib.sha256(data + b"\0" + settings).hexdigest()
    return folder / "midi" / key[:2] / key


def _write_cache(entry: Path, notes: np.ndarray, reason: str) -> None:
    """Write one cache entry atomically (a unique temporary name, then rename)."""
    buffer = io.BytesIO()
    if reason:
        buffer.write(reason.encode())
    else:
        np.save(buffer, notes)
    ensure_folder(entry.parent)  # the cache's fan-out folders (midi/29/...)
    write_atomically(entry.with_suffix(".skip" if reason else ".npy"), buffer.getvalue())


def _parse_notes(path: Path, codec: EventCodec) -> np.ndarray:
    """Read and quantise one file: symusic for MIDI, music21 for MusicXML."""
    is_midi = path.suffix.lower() in MIDI_SUFFIXES
    parts = read_midi_parts(path) if is_midi else score_parts(path)
    return codec.notes_from_parts(parts, str(path))


def load_notes(path: Path, codec: EventCodec, cache: Path | None) -> tuple[np.ndarray, bool]:
    """(quantised notes, whether the cache had them); a file that cannot be used is a
    CorpusError, remembered in the cache too so a bad file is not parsed again."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CorpusError(f"{path}: {err.strerror}") from None
    entry = _cache_path(data, codec, cache) if cache is not None else None
    if entry is not None and entry.with_suffix(".npy").is_file():
        return np.load(entry.with_suffix(".npy")), True
    if entry is not None and entry.with_suffix(".skip").is_file():
        raise CorpusError(f"{path}: {entry.with_suffix('.skip').read_text()}")
    try:
        notes, reason = _parse_notes(path, codec), ""
    except CorpusError as err:
        notes, reason = np.zeros((0, 3), dtype=np.int32), str(err).removeprefix(f"{path}: ")
    if entry is not None:
        _write_cache(entry, notes, reason)
    if reason:
        raise CorpusError(f"{path}: {reason}")
    return notes, False


def read_midi_corpus(
    specs: Sequence[str], codec: EventCodec, cache: Path | None = None
) -> MidiCorpus:
    """Read pieces from every spec (joined with '+' or listed), skipping unusable files with a
    reason each and dropping exact duplicates; `cache` None reads every file afresh."""
    names = [part for spec in specs for part in spec.split("+") if part]
    if not names:
        raise CorpusError("no MIDI corpus given")
    files = [path for name in names for path in resolve_midi_files(name)]
    report = ReadReport(files=len(files), unit="pieces")
    pieces: list[Piece] = []
    seen: set[bytes] = set()
    misses = 0
    for path in files:
        if misses == ANNOUNCE_MISSES:
            print(f"tunegen: reading {len(files)} files; new ones are cached", file=sys.stderr)
        try:
            notes, hit = load_notes(path, codec, cache)
        except CorpusError as err:
            report.problems.append(str(err))
            report.dropped["unusable file"] += 1
            misses += 1
            continue
        misses += not hit
        report.read += 1
        digest = hashlib.blake2b(notes.tobytes(), digest_size=16).digest()
        if digest in seen:
            report.dropped["duplicate"] += 1
            continue
        seen.add(digest)
        pieces.append(Piece(notes, codec.encode(notes), str(path)))
    report.kept = len(pieces)
    description = "+".join(names)
    if not pieces:
        detail = "; ".join(report.problems[:3]) or report.summary()
        raise CorpusError(f"{description}: no usable MIDI pieces ({detail})")
    return MidiCorpus(pieces, report, description)
