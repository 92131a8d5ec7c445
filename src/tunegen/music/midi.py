"""MIDI <-> note events: read parts through symusic, quantise to a grid, encode as event words.

Nothing here imports an ML library. Notes move through three forms:
- parts: what a file holds, one `Part` per track (name, drum flag, notes in quarter notes);
- quantised notes: int32 [N, 3] arrays of (onset step, pitch, duration steps) on a grid of
  `grid` steps per quarter note, sorted by onset, then pitch from high to low;
- text: whitespace-separated words that the language models learn (see `EventCodec`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tunegen.errors import CorpusError, Setting, SettingError
from tunegen.music.midi_io import NoteEvent, Performance, midi_header_problem

CODECS = ("events", "seed003")
MAX_WAIT_QUARTERS = 4  # longer rests are written as several wait words
MAX_DURATION_QUARTERS = 8  # longer notes are cut to this when quantised
# music21's default spelling of the 12 pitch classes (what str(note.pitch) gives for MIDI input)
PITCH_NAMES = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")
SEED003_STEP_QUARTERS = 0.5  # the write-up plays every note and chord half a beat after the last


@dataclass(frozen=True)
class Part:
    """One track of a file: its name, whether it is a drum track, and notes [N, 3] float
    (start, pitch, duration), times in quarter notes."""

    name: str
    is_drum: bool
    notes: np.ndarray


def parse_midi_parts(data: bytes, source: str) -> list[Part]:
    """The tracks of Standard MIDI File bytes, read by symusic; a bad file is a CorpusError."""
    import symusic  # local import: only the MIDI path needs it

    problem = midi_header_problem(data)
    if problem is None:
        try:
            score = symusic.Score.from_midi(data, ttype="quarter")
        except RuntimeError as err:
            detail = str(err).removeprefix("MiniMidi: ").removesuffix(": iostream error")
            problem = f"truncated or corrupt MIDI ({detail})"
    if problem is not None:
        raise CorpusError(f"{source}: {problem}")
    parts = []
    for track in score.tracks:
        arrays = track.notes.numpy()
        notes = np.stack([arrays["time"], arrays["pitch"], arrays["duration"]], axis=1)
        parts.append(Part(track.name, bool(track.is_drum), notes.astype(np.float64)))
    return parts


def read_midi_parts(path: Path) -> list[Part]:
    """The tracks of a MIDI file; unreadable files are a CorpusError naming the file."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CorpusError(f"{path}: {err.strerror}") from None
    return parse_midi_parts(data, str(path))


def select_parts(parts: list[Part], which: str, source: str) -> tuple[np.ndarray, bool]:
    """Notes [N, 3] of the parts to learn, and whether to keep only the top voice.

    `which` is "melody" (the part with the highest mean pitch, top voice only), "all" (every
    part merged: a piano reduction) or a part name (every part whose name contains it, any case).
    Drum parts are never used.
    """
    pitched = [p for p in parts if not p.is_drum and len(p.notes)]
    if not pitched:
        drums = any(p.is_drum and len(p.notes) for p in parts)
        raise CorpusError(f"{source}: {'only drum parts' if drums else 'no notes'}")
    if which == "melody":
        return max(pitched, key=lambda p: float(p.notes[:, 1].mean())).notes, True
    if which != "all":
        pitched = [p for p in pitched if which.lower() in p.name.lower()]
        if not pitched:
            names = ", ".join(sorted({p.name or "unnamed" for p in parts if not p.is_drum}))
            raise CorpusError(f"{source}: no part named {which!r} (parts: {names})")
    return np.concatenate([p.notes for p in pitched]), False


def quantise(notes: np.ndarray, grid: int, top_voice: bool = False) -> np.ndarray:
    """Notes [N, 3] in quarters -> int32 (onset, pitch, duration) steps on the grid.

    Durations are at least one step and at most MAX_DURATION_QUARTERS; a pitch struck twice at
    one onset is kept once (the longer); `top_voice` keeps only the highest note of each onset.
    """
    onsets = np.round(notes[:, 0] * grid)
    durations = np.clip(np.round(notes[:, 2] * grid), 1, MAX_DURATION_QUARTERS * grid)
    return _canonical(np.stack([onsets, notes[:, 1], durations], axis=1), top_voice)


def _canonical(notes: np.ndarray, top_voice: bool = False) -> np.ndarray:
    """Step notes [N, 3] sorted by onset, then pitch high to low, as int32; of a pitch struck
    twice at one onset the longer is kept, and `top_voice` keeps one note per onset."""
    notes = notes.astype(np.int64)
    notes = notes[np.lexsort((-notes[:, 2], -notes[:, 1], notes[:, 0]))]
    key = notes[:, 0] if top_voice else notes[:, 0] * 128 + notes[:, 1]
    keep = np.ones(len(notes), dtype=bool)
    keep[1:] = key[1:] != key[:-1]
    return notes[keep].astype(np.int32)


def transpose(notes: np.ndarray, semitones: int) -> np.ndarray | None:
    """Quantised notes moved by `semitones`, or None if a pitch would leave 0..127."""
    pitches = notes[:, 1] + semitones
    if len(notes) and (pitches.min() < 0 or pitches.max() > 127):
        return None
    moved = notes.copy()
    moved[:, 1] = pitches
    return moved


def pitch_name(pitch: int) -> str:
    """MIDI pitch -> music21-style name with octave: 60 -> "C4", 70 -> "B-4"."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def parse_pitch_name(name: str) -> int:
    """The inverse of `pitch_name`: "C#4" -> 61 (from octave 0 up: "E-1" is read as E-flat 1)."""
    for length in (2, 1):
        if name[:length] in PITCH_NAMES and name[length:].lstrip("-").isdigit():
            return PITCH_NAMES.index(name[:length]) + 12 * (int(name[length:]) + 1)
    raise ValueError(f"not a pitch name: {name!r}")


def normal_order(pitch_classes: set[int]) -> list[int]:
    """A pitch-class set in normal order, as music21's `Chord.normalOrder` gives it: the rotation
    with the smallest span, ties broken by the smallest intervals from its first pitch class."""
    pcs = sorted(pitch_classes)
    rotations = [pcs[i:] + pcs[:i] for i in range(len(pcs))]

    def packing(rotation: list[int]) -> tuple[int, ...]:
        span = (rotation[-1] - rotation[0]) % 12
        return (span, *((pc - rotation[0]) % 12 for pc in rotation[1:-1]), rotation[0])

    return min(rotations, key=packing)


@dataclass(frozen=True)
class EventCodec:
    """Quantised notes <-> words. Two vocabularies:

    "events" (tunegen's): per onset, `w<steps>` (the wait since the previous onset; `w0` only
    for a piece that starts at time 0, longer waits split into several words), then per note from
    high to low `p<pitch>` `d<steps>`. Lossless for quantised notes.
    "seed003" (the Keras write-up's): one word per onset, a pitch name like `C4` for a single
    note or the chord's pitch classes in normal order joined by dots like `4.7.11`; durations and
    rests are dropped, and decoding plays every word for half a beat, half a beat apart.
    """

    kind: str = "events"
    grid: int = 4  # steps per quarter note
    parts: str = "melody"  # melody, all or a part name (see select_parts)

    def validate(self) -> None:
        if self.kind not in CODECS:
            raise SettingError(
                Setting("codec"), f" must be one of {', '.join(CODECS)}, got {self.kind!r}"
            )
        if not 1 <= self.grid <= 96:
            raise SettingError(
                Setting("grid"), f" must be in 1..96 steps per quarter note, got {self.grid}"
            )
        if self.kind == "seed003" and self.grid % 2:
            raise SettingError(
                Setting("codec"), " seed003 needs an even ", Setting("grid"),
                " (notes half a beat apart)",
            )  # fmt: skip
        if not self.parts:
            raise SettingError(Setting("parts"), " must be melody, all or a part name")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EventCodec:
        return cls(**data)

    def notes_from_parts(self, parts: list[Part], source: str) -> np.ndarray:
        """The quantised notes this codec learns from a file's parts."""
        notes, top_voice = select_parts(parts, self.parts, source)
        return quantise(notes, self.grid, top_voice)

    def encode(self, notes: np.ndarray) -> str:
        """Quantised notes -> words."""
        groups = np.split(notes, np.flatnonzero(np.diff(notes[:, 0])) + 1) if len(notes) else []
        words: list[str] = []
        previous = 0
        for group in groups:
            onset = int(group[0, 0])
            if self.kind == "seed003":
                words.append(_seed003_word(group[:, 1]))
                continue
            words.extend(self._waits(onset - previous))
            previous = onset
            for _, pitch, duration in group:
                words += [f"p{pitch}", f"d{duration}"]
        return " ".join(words)

    def _waits(self, steps: int) -> list[str]:
        """Wait words adding up to `steps`; `w0` for a piece that starts at time 0."""
        longest = MAX_WAIT_QUARTERS * self.grid
        words = [f"w{longest}"] * (steps // longest)
        if steps % longest or not steps:
            words.append(f"w{steps % longest}")
        return words

    def decode(self, text: str) -> np.ndarray:
        """Words -> quantised notes. Lenient, for sampled text: a pitch with no duration lasts
        a beat, and words out of place are skipped."""
        if self.kind == "seed003":
            return self._decode_seed003(text.split())
        notes: list[tuple[int, int, int]] = []
        time, pitch = 0, None
        for word in text.split():
            head, value = word[:1], word[1:]
            if not value.isdigit():
                continue
            if pitch is not None:
                duration = int(value) if head == "d" else self.grid
                notes.append((time, pitch, max(duration, 1)))
                pitch = None
            if head == "w":
                time += int(value)
            elif head == "p":
                pitch = int(value)
        if pitch is not None:
            notes.append((time, pitch, self.grid))
        return _sorted_notes(notes)

    def _decode_seed003(self, words: list[str]) -> np.ndarray:
        step = round(SEED003_STEP_QUARTERS * self.grid)
        notes = []
        for i, word in enumerate(words):
            if "." in word or word.isdigit():
                pcs = [int(pc) % 12 for pc in word.split(".") if pc.isdigit()]
                # a chord of one pitch class is an octave: keep it a chord (C4 and C5)
                pitches = [60 + pc for pc in pcs] if len(pcs) > 1 else [60 + pcs[0], 72 + pcs[0]]
            else:
                try:
                    pitches = [parse_pitch_name(word)]
                except ValueError:
                    continue
            notes += [(i * step, p, step) for p in pitches]
        return _sorted_notes(notes)

    def timing(self, word: str) -> tuple[int, bool, bool]:
        """(grid steps it waits, whether it ends the current onset, whether it plays a note):
        how sampling counts events and beats as words arrive."""
        if self.kind == "seed003":
            return round(SEED003_STEP_QUARTERS * self.grid), True, True
        if word.startswith("w"):  # w0 (a piece's start) leaves the onset open, as decode does
            return int(word[1:]), int(word[1:]) > 0, False
        return 0, False, word.startswith("p")

    def is_onset_start(self, word: str) -> bool:
        """Whether a piece's text may be cut just before `word` (a primer ends there)."""
        return self.timing(word)[1]


def _seed003_word(pitches: np.ndarray) -> str:
    if len(pitches) == 1:
        return pitch_name(int(pitches[0]))
    return ".".join(str(pc) for pc in normal_order({int(p) % 12 for p in pitches}))


def _sorted_notes(notes: list[tuple[int, int, int]]) -> np.ndarray:
    """Decoded notes in the canonical order of quantised notes, pitches outside 0..127 dropped."""
    array = np.array(notes, dtype=np.int64).reshape(-1, 3)
    return _canonical(array[(array[:, 1] >= 0) & (array[:, 1] <= 127)])


def notes_to_performance(
    notes: np.ndarray, grid: int, qpm: float = 100.0, program: int = 0
) -> Performance:
    """Quantised notes -> a `Performance` that midi_io writes and synth plays."""
    events = tuple(
        NoteEvent(int(p), float(t) / grid, float(d) / grid, program=program) for t, p, d in notes
    )
    return Performance(events, qpm)
