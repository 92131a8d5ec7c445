"""MIDI corpora for training: pieces -> word texts by split, the vocabulary and primer windows."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from tunegen.data.batches import encode_texts, split_counts
from tunegen.data.midi_corpus import Piece, cache_dir, read_midi_corpus
from tunegen.data.vocab import Vocabulary
from tunegen.music.abc import split_train_val
from tunegen.music.midi import EventCodec, transpose

if TYPE_CHECKING:
    from tunegen.training.config import TrainConfig

PRIMER_WINDOWS = 16  # random training windows kept in the checkpoint to start generation
KEYS = range(-5, 7)  # the 12 transpositions of --transpose-all, the original among them


def in_all_keys(pieces: Sequence[Piece], codec: EventCodec) -> list[Piece]:
    """Every piece in the 12 keys from 5 semitones down to 6 up (those that fit in 0..127)."""
    moved = []
    for piece in pieces:
        for shift in KEYS:
            notes = transpose(piece.notes, shift)
            if notes is not None:
                moved.append(Piece(notes, codec.encode(notes), f"{piece.source} {shift:+d}"))
    return moved


def onset_ids(vocab: Vocabulary, codec: EventCodec) -> np.ndarray:
    """A mask over the vocabulary: the words that start an onset (where a primer may end)."""
    return np.array([i > 0 and codec.is_onset_start(s) for i, s in enumerate(vocab.symbols)])


def primer_windows(
    ids: np.ndarray, length: int, starts: np.ndarray, count: int, seed: int
) -> list[list[int]]:
    """`count` random windows of `length` ids that end just before an onset (`starts` mask).

    Like the write-up, generation starts from a random stretch of the training text.
    """
    ends = np.flatnonzero(starts[ids[length:]]) + length
    if not len(ends):
        return []
    chosen = np.random.default_rng(seed).choice(ends, size=min(count, len(ends)), replace=False)
    return [ids[end - length : end].tolist() for end in sorted(chosen)]


def prepare_midi_corpus(train: TrainConfig, vocab: Vocabulary | None = None, extend: bool = False):
    """Read, split and (with --transpose-all) transpose the MIDI pieces; like prepare_corpus.

    Returns (word texts by split, vocabulary, corpus description). The description says the corpus
    is MIDI, with the codec settings and primer windows, so `generate` writes MIDI back.
    """
    codec = train.midi_codec
    corpus = read_midi_corpus(train.corpus, codec, cache_dir())
    for problem in corpus.report.problems:
        print(f"tunegen: skipped {problem}", file=sys.stderr)
    train_pieces, val_pieces = split_train_val(corpus.pieces, train.val_fraction)
    pieces = {
        "train": in_all_keys(train_pieces, codec) if train.transpose_all else train_pieces,
        "val": val_pieces,
    }
    texts = {split: [piece.text for piece in part] for split, part in pieces.items()}
    every_text = (t for part in texts.values() for t in part)
    if vocab is None:
        vocab = Vocabulary.from_texts(every_text, "words")
    elif extend:
        vocab = vocab.with_symbols_of(every_text)
    stream = encode_texts([piece.text for piece in train_pieces], vocab)
    primers = primer_windows(
        stream, train.seq_len, onset_ids(vocab, codec), PRIMER_WINDOWS, train.seed
    )
    info = {
        "kind": "midi",
        "codec": codec.to_dict(),
        "transpose_all": train.transpose_all,
        "description": corpus.description,
        "report": corpus.report.summary(),
        "primers": primers,
    }
    for split, part in texts.items():
        counts = split_counts(part, vocab)
        info.update({f"{split}_{name}": value for name, value in counts.items()})
    return texts, vocab, info
