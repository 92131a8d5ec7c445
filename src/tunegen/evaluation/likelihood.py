"""Held-out loss of a checkpoint on any corpus: nats and bits per character, and perplexity."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from tunegen.data.batches import (
    IGNORE,
    StatefulBatches,
    TuneBatches,
    encode_texts,
    encoded_length,
    fresh_tune_starts,
)
from tunegen.errors import CorpusError, VocabularyError
from tunegen.models.checkpoint import Checkpoint


@dataclass(frozen=True)
class Likelihood:
    """How well a model predicts a corpus, per character (the end-of-tune marker included).

    For a word-level vocabulary (MIDI events) "character" means one symbol.
    """

    tunes: int
    skipped: int  # tunes with a character the model never saw
    chars: int
    loss: float  # mean cross-entropy, nats per character

    @property
    def bits_per_char(self) -> float:
        return self.loss / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


def corpus_likelihood(
    checkpoint: Checkpoint,
    texts: Iterable[str],
    streams: int = 32,
    seq_len: int = 256,
    tune_by_tune: bool | None = None,
) -> Likelihood:
    """Score tune texts as the model was validated: parallel streams with the state carried,
    or, `tune_by_tune`, each tune from the initial state (default: as the checkpoint trained,
    i.e. tune by tune for `--mode tunes`)."""
    if tune_by_tune is None:
        tune_by_tune = checkpoint.meta.get("training", {}).get("mode") == "tunes"
    usable, total_tunes = [], 0
    for text in texts:
        total_tunes += 1
        try:
            checkpoint.vocab.encode(text)
            usable.append(text)
        except VocabularyError:
            continue
    if not usable:
        raise CorpusError("no tune of the corpus fits the model's vocabulary")
    ids = encode_texts(usable, checkpoint.vocab)
    streams = max(1, min(streams, (len(ids) - 1) // (seq_len + 1)))
    if tune_by_tune:
        batches = TuneBatches(ids, streams, seq_len, seed=0)
    else:
        batches = StatefulBatches(ids, streams, seq_len)
    total, count, state = 0.0, 0, None
    with torch.inference_mode():
        for step in range(len(batches)):
            x, y = batches[step]  # [B, T]
            if tune_by_tune:  # a tune's first chunk starts afresh
                state = fresh_tune_starts(state, x, y)
            logits, state = checkpoint.model(x, state)
            total += F.cross_entropy(
                logits.flatten(0, 1), y.flatten(), ignore_index=IGNORE, reduction="sum"
            ).item()
            count += int((y != IGNORE).sum())
    # a symbol may span several characters ("abc" tokens): the loss is spread over characters
    vocab = checkpoint.vocab
    chars_per_symbol = encoded_length(usable) / len(ids) if vocab.counts_characters else 1.0
    chars = round(count * chars_per_symbol)
    loss = total / (count * chars_per_symbol)
    return Likelihood(len(usable), total_tunes - len(usable), chars, loss)


def char_losses(checkpoint: Checkpoint, text: str) -> list[float]:
    """The model's loss (nats) on each character of one tune and then on its end of tune, the
    tune read from the initial state as `generate` starts one. Character-level models only: a
    token spans several characters, so it has no loss of its own per character."""
    vocab = checkpoint.vocab
    if vocab.tokenizer != "chars":
        raise VocabularyError("per-character losses need a model of single characters")
    ids = torch.from_numpy(encode_texts([text], vocab).astype("int64"))[None]  # <eot> tune <eot>
    with torch.inference_mode():
        logits, _ = checkpoint.model(ids[:, :-1], None)
        losses = F.cross_entropy(logits[0], ids[0, 1:], reduction="none")
    return losses.tolist()
