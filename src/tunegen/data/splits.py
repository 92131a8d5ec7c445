"""A checkpoint's tunes read again: its whole ABC corpus, or the held-out tunes it was scored on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunegen.music.abc import Tune, read_corpus, split_train_val


def corpus_tunes(training: Mapping[str, Any]) -> list[Tune]:
    """Every tune of the ABC corpus a run trained on (its checkpoint's `training` settings)."""
    return read_corpus(training["corpus"]).tunes


def held_out_tunes(training: Mapping[str, Any]) -> list[Tune]:
    """The tunes a run held out for validation: its corpus, split as training split it."""
    return split_train_val(corpus_tunes(training), training["val_fraction"])[1]
