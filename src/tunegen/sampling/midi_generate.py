"""Composing MIDI pieces: primers, batched sampling to a length in beats or events, and files."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from tunegen.data.midi_corpus import cache_dir, load_notes
from tunegen.data.vocab import Vocabulary
from tunegen.errors import Setting, SettingError, VocabularyError
from tunegen.models.checkpoint import Checkpoint
from tunegen.models.stepping import make_stepper
from tunegen.music.midi import EventCodec, notes_to_performance
from tunegen.music.midi_io import performance_to_midi
from tunegen.render.piano_roll import write_piano_roll
from tunegen.render.synth import render_wav
from tunegen.runtime.fileio import refuse_overwrite, write_atomically
from tunegen.sampling.loop import KEEP, STOP, Batch, sample_rows
from tunegen.sampling.options import SamplingOptions, chunk_seed, chunk_size

SUFFIXES = (".mid", ".wav", ".png")
WORDS_PER_STEP = 24  # the word budget per event or grid step: chords of up to 11 notes fit
MAX_LENGTH = 10_000  # events or beats per piece (README, "Limits"): ~40 minutes at 120 bpm


@dataclass(frozen=True)
class PieceLength:
    """How long each piece is: a number of note/chord onsets ("events") or of quarter-note
    beats ("beats"), counted from its first note."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> PieceLength:
        """ "200" -> 200 events, "32b" -> 32 beats."""
        beats = text.endswith("b")
        number = text[:-1] if beats else text
        if not number.isascii() or not number.isdigit() or not 1 <= int(number) <= MAX_LENGTH:
            raise SettingError(
                Setting("length"),
                f" must be 1-{MAX_LENGTH:,} events (200) or beats (32b), got {text!r}",
            )
        return cls(int(number), "beats" if beats else "events")

    def word_budget(self, codec: EventCodec) -> int:
        """The most words to sample before giving up on reaching the length."""
        steps = self.amount * (codec.grid if self.unit == "beats" else 1)
        return WORDS_PER_STEP * steps + 100


class LengthRule:
    """A piece's stop rule in the sampling loop: counts its onsets and beats as its words
    arrive, and stops it before the word that would start an onset beyond its length."""

    done = False

    def __init__(self, codec: EventCodec, length: PieceLength, symbols: list[str]) -> None:
        self.codec, self.length, self.symbols = codec, length, symbols
        self.started, self.open = False, False  # a note was played; the onset takes more notes
        self.time, self.onsets = 0, 0

    def prepare(self, logits: np.ndarray) -> None:
        """Nothing to mask: the end-of-piece marker is never drawn by any row."""

    def accept(self, batch: Batch, row: int, chosen: int) -> tuple[int, int]:
        return (KEEP if self.fits(self.symbols[chosen]) else STOP), chosen

    def fits(self, word: str) -> bool:
        """Take `word`, or return False if it would start an onset beyond the length."""
        wait, ends, plays = self.codec.timing(word)
        if ends:
            self.open = False
        if self.started:
            self.time += wait
        if plays and not self.open:
            if self.length.unit == "events":
                full = self.onsets >= self.length.amount
            else:
                full = self.time >= self.length.amount * self.codec.grid
            if full:
                return False
            self.onsets, self.open, self.started = self.onsets + 1, True, True
        return True


def trim(notes: np.ndarray, length: PieceLength, grid: int) -> np.ndarray:
    """Notes moved to start at time 0; for a length in beats, cut to end by the last beat."""
    notes = notes.copy()
    if len(notes):
        notes[:, 0] -= notes[:, 0].min()
    if length.unit == "beats":
        end = length.amount * grid
        notes = notes[notes[:, 0] < end]
        notes[:, 2] = np.minimum(notes[:, 2], end - notes[:, 0])
    return notes


def sample_pieces(
    model: nn.Module,
    vocab: Vocabulary,
    codec: EventCodec,
    primers: np.ndarray,
    length: PieceLength,
    options: SamplingOptions,
) -> tuple[list[np.ndarray], int]:
    """One piece per row of `primers` [B, L] (word ids), sampled as one batch.

    The end-of-piece marker is never drawn: each piece runs to `length`. Returns the pieces'
    quantised notes (the primer not included) and how many ran out of their word budget.
    """
    options.validate()
    budget = length.word_budget(codec)
    rules = [LengthRule(codec, length, vocab.symbols) for _ in range(len(primers))]
    stepper = make_stepper(model)
    batch = sample_rows(
        stepper, options, primers, rules, vocab.end_id, budget, budget, never=[vocab.end_id]
    )
    words = [[vocab.symbols[i] for i in batch.result(b)] for b in range(len(primers))]
    pieces = [trim(codec.decode(" ".join(w)), length, codec.grid) for w in words]
    return pieces, int((~batch.stopped).sum())


def training_primers(meta: dict, count: int, seed: int | None) -> np.ndarray:
    """`count` primer windows [count, L] drawn from those the checkpoint keeps."""
    windows = meta["corpus"].get("primers") or [[]]
    rng = np.random.default_rng(seed)
    return np.array([windows[i] for i in rng.integers(0, len(windows), count)], dtype=np.int64)


def midi_primer(path: Path, codec: EventCodec, vocab: Vocabulary, max_words: int) -> np.ndarray:
    """Word ids of the opening of a MIDI file, at most `max_words`, cut before an onset."""
    notes, _ = load_notes(path, codec, cache_dir())
    words = codec.encode(notes).split()
    if len(words) > max_words:  # cut before an onset, so the continuation starts one
        cut = next((k for k in range(max_words, 0, -1) if codec.is_onset_start(words[k])), 0)
        words = words[:cut]
    try:
        return vocab.encode(" ".join(words))
    except VocabularyError as err:
        raise VocabularyError(f"{path}: {err}") from None


def choose_primers(
    checkpoint: Checkpoint, codec: EventCodec, count: int, seed: int | None, path: Path | None
) -> np.ndarray:
    """Primers [count, L]: the opening of the MIDI file at `path` for every piece, or random
    training windows from the checkpoint."""
    if path is None:
        return training_primers(checkpoint.meta, count, seed)
    seq_len = checkpoint.meta["training"]["seq_len"]
    return np.tile(midi_primer(path, codec, checkpoint.vocab, seq_len), (count, 1))


def piece_stems(out_dir: Path, count: int, force: bool) -> list[Path]:
    """out_dir/piece-001 ... ; an existing output file is an error unless `force`."""
    stems = [out_dir / f"piece-{i:03d}" for i in range(1, count + 1)]
    existing = [s.with_suffix(x) for s in stems for x in SUFFIXES if s.with_suffix(x).exists()]
    refuse_overwrite(existing, force)
    return stems


@dataclass(frozen=True)
class PieceFiles:
    """How to write each piece: grid, tempo, General MIDI program, synthesizer."""

    grid: int
    qpm: float = 100.0
    program: int = 0
    synth: str = "builtin"
    soundfont: Path | None = None


def write_piece(notes: np.ndarray, stem: Path, files: PieceFiles) -> None:
    """stem.mid, stem.wav and stem.png (a piano roll) for one piece."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    performance = notes_to_performance(notes, files.grid, files.qpm, files.program)
    midi = performance_to_midi(performance)
    write_atomically(stem.with_suffix(".mid"), midi)
    render_wav(performance, midi, stem.with_suffix(".wav"), files.synth, files.soundfont)
    write_piano_roll(notes, files.grid, stem.with_suffix(".png"), stem.name)


@dataclass
class PieceComposition:
    """Pieces sampled by compose_pieces: their notes, how many stopped short, and the time."""

    pieces: list[np.ndarray]
    short: int  # pieces that stopped at the word budget
    seconds: float


def compose_pieces(
    checkpoint: Checkpoint,
    count: int,
    length: PieceLength,
    options: SamplingOptions,
    primer_midi: Path | None = None,
) -> PieceComposition:
    """`count` pieces from a MIDI model, sampled in chunks so memory stays flat in `count`;
    each chunk has its own seed (chunk_seed), as `compose` does for tunes."""
    codec = EventCodec.from_dict(checkpoint.meta["corpus"]["codec"])
    primers = choose_primers(checkpoint, codec, count, options.seed, primer_midi)
    start = time.perf_counter()
    pieces, short, size = [], 0, chunk_size(len(checkpoint.vocab))
    for index, first in enumerate(range(0, count, size)):
        chunk_options = replace(options, seed=chunk_seed(options.seed, index))
        done, cut = sample_pieces(
            checkpoint.model, checkpoint.vocab, codec, primers[first : first + size], length,
            chunk_options,
        )  # fmt: skip
        pieces, short = pieces + done, short + cut
    return PieceComposition(pieces, short, time.perf_counter() - start)
