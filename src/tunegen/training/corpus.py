"""A run's corpus: the files it reads, read once into split texts, the vocabulary and the
description stored in its checkpoints."""

from __future__ import annotations

import sys
from itertools import chain
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

from tunegen.data.batches import Texts, split_counts, write_splits
from tunegen.data.midi_corpus import resolve_midi_files
from tunegen.data.midi_data import prepare_midi_corpus
from tunegen.data.vocab import Vocabulary
from tunegen.errors import CorpusError
from tunegen.music.abc import ReadReport, corpus_description, iter_corpus, resolve_abc_files
from tunegen.music.abc_clean import TuneCleaner
from tunegen.music.transpose import KeyAugmenter
from tunegen.training.config import TrainConfig

MAX_PROBLEMS_SHOWN = 20  # read problems printed when training starts; `info` has the counts


def prepare_corpus(
    train: TrainConfig, folder: Path, vocab: Vocabulary | None = None, extend: bool = False
) -> tuple[dict[str, Texts], Vocabulary, dict]:
    """Read the corpus in one streaming pass into split text files in `folder`; the vocabulary
    comes from those texts unless given (with `extend`, the given one plus the symbols of the
    texts that it lacks: fine-tuning).

    Returns (texts by split, vocabulary, corpus description for the checkpoint). Tunes are never
    all in memory: a corpus of gigabytes needs the memory of its largest file, not of itself.
    MIDI corpora (--midi) come as word texts from midi_data.prepare_midi_corpus.
    """
    if train.corpus_kind == "midi":
        return prepare_midi_corpus(train, vocab, extend)
    report = ReadReport()
    tunes = iter_corpus(train.corpus, report, train.keep_metadata)
    augmenter = None
    if train.transpose or train.transpose_all:  # validation tunes stay in their own key
        augmenter = KeyAugmenter(train.target_keys if train.transpose else ())
    augment = augmenter.texts if augmenter else None
    cleaner = None if train.keep_unclean else TuneCleaner()
    clean = cleaner.text if cleaner else None
    texts = write_splits((t.text for t in tunes), folder, train.val_fraction, augment, clean)
    if cleaner:
        report.dropped.update(cleaner.dropped)
        report.kept -= sum(cleaner.dropped.values())
        report.changes.update(cleaner.changes)
    if augmenter:
        report.changes.update(augmenter.counts)
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        announce(f"tunegen: {problem}", sys.stderr)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        more = len(report.problems) - MAX_PROBLEMS_SHOWN
        announce(f"tunegen: ... and {more} more problems", sys.stderr)
    if vocab is None:
        vocab = Vocabulary.from_texts(chain(*texts.values()), train.tokenizer)
    elif extend:
        vocab = vocab.with_symbols_of(chain(*texts.values()))
    info = {
        "description": corpus_description(train.corpus),
        "report": report.summary(),
    }
    for split, split_texts in texts.items():
        counts = split_counts(split_texts, vocab)
        info.update({f"{split}_{name}": value for name, value in counts.items()})
    return texts, vocab, info


@rank_zero_only
def announce(line: str, file=None) -> None:
    """One line from the reporting process (every DDP rank reads the corpus); problems go to
    stderr, the read report to stdout."""
    print(line, file=file or sys.stdout, flush=True)


def corpus_files(config: TrainConfig) -> list[Path]:
    """The files a run reads, in reading order (bundled corpora, folders and globs resolved)."""
    resolve = resolve_midi_files if config.corpus_kind == "midi" else resolve_abc_files
    names = [part for spec in config.corpus for part in spec.split("+") if part]
    if not names:
        raise CorpusError("no corpus given")
    return [path for name in names for path in resolve(name)]
