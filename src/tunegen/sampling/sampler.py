"""Sampling ABC tunes: one batch through the sampling loop, and tunebooks composed in chunks."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tunegen.data.vocab import Vocabulary
from tunegen.errors import Setting, SettingError
from tunegen.models.numpy_lstm import NumpyLSTM
from tunegen.models.stepping import make_stepper, numpy_lstm_config, sampling_model
from tunegen.music.abc import tunebook_from_texts
from tunegen.runtime.threads import blas_threads, product_threads
from tunegen.sampling.form import FormPlan
from tunegen.sampling.grammar import GrammarStats, sample_grammar
from tunegen.sampling.header import HeaderPlan, header_rules, resolve_plans
from tunegen.sampling.loop import same_primer, sample_rows
from tunegen.sampling.options import (
    MAX_NUM_TUNES,
    SamplingOptions,
    chunk_seed,
    chunk_size,
    header_scale,
    with_model_defaults,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = [  # what other modules import from here
    "MAX_NUM_TUNES",
    "Composition",
    "GrammarStats",
    "HeaderPlan",
    "SamplingOptions",
    "chunk_seed",
    "chunk_size",
    "compose",
    "sample_tunes",
    "sampling_threads",
    "with_model_defaults",
]


def sampling_threads(
    model: NumpyLSTM | nn.Module, batch_size: int, budget: int | None = None
) -> contextlib.AbstractContextManager[None]:
    """BLAS threads for sampling `batch_size` tunes with `model` on the CPU: one for the small
    products of a small batch (more threads only wait on each other, or spin against other
    programs), up to `budget` for large ones. A no-op for models that sample in torch."""
    config = numpy_lstm_config(model)
    if config is None:
        return contextlib.nullcontext()
    hidden = config.hidden_size
    return blas_threads(product_threads(batch_size, 2 * hidden, 4 * hidden, budget))


def sample_tunes(
    model: NumpyLSTM | nn.Module,
    vocab: Vocabulary,
    num_tunes: int,
    options: SamplingOptions,
    primer: str = "",
    plan: HeaderPlan | None = None,
    form: FormPlan | None = None,
    grammar: bool = True,
    stats: GrammarStats | None = None,
) -> list[str]:
    """Sample `num_tunes` tunes as one batch; each ends at its end-of-tune or at max_symbols.

    With `grammar` (ABC models only), every tune is kept well formed as it is written (see
    `tunegen.sampling.grammar`) and follows `form`; `stats` collects what that took. Without it, the
    model writes freely: only the header rules of `HeaderConstraint` apply.
    """
    options.validate()
    if num_tunes < 1:
        raise SettingError(Setting("num_tunes"), f" must be >= 1, got {num_tunes}")
    plan, form = resolve_plans(plan or HeaderPlan(), form or FormPlan())
    if form.active and (not grammar or vocab.tokenizer == "words"):
        raise SettingError(
            Setting("form"), " needs grammar-aware sampling of an ABC model (not ",
            Setting("free"), ")",
        )  # fmt: skip
    if grammar and vocab.tokenizer != "words":
        return sample_grammar(
            model, vocab, num_tunes, options, primer, plan, form, stats or GrammarStats()
        )
    primer_ids = vocab.encode(primer)
    rules = header_rules(plan, vocab, num_tunes, primer, header_scale(options))
    primers = same_primer(primer_ids, num_tunes)
    capacity = options.max_symbols
    batch = sample_rows(
        make_stepper(model), options, primers, rules, vocab.end_id, capacity, capacity
    )
    return [primer + vocab.decode(batch.result(b)) for b in range(num_tunes)]


@dataclass
class Composition:
    """Sampled tunes as a tunebook, with what happened to each."""

    tunebook: str
    texts: list[str]
    truncated: int
    chars: int
    seconds: float
    grammar: GrammarStats | None = None  # None: sampled with --free
    notes: list[str | None] = field(default_factory=list)  # per tune: its note (cut, ended early)

    @property
    def chars_per_s(self) -> float:
        return self.chars / max(self.seconds, 1e-9)


def compose(
    model: NumpyLSTM | nn.Module,
    vocab: Vocabulary,
    num_tunes: int,
    options: SamplingOptions,
    primer: str = "",
    plan: HeaderPlan | None = None,
    threads: int | None = None,
    form: FormPlan | None = None,
    grammar: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Composition:
    """Sample tunes and assemble a tunebook that never fails on a bad sample; `threads` caps
    the BLAS threads (default: the process's count, see tunegen.runtime.threads).

    The tunes are sampled in chunks of chunk_size(V) rows, chunk i with seed
    chunk_seed(options.seed, i), so memory stays flat for any N (and N <= one chunk is exactly
    one sample_tunes call with the given seed). `progress(done, total)` is told after each chunk.
    """
    options.validate()
    (plan or HeaderPlan()).validate()
    if not 1 <= num_tunes <= MAX_NUM_TUNES:
        raise SettingError(
            Setting("num_tunes"), f" must be in [1, {MAX_NUM_TUNES:,}], got {num_tunes}"
        )
    start = time.perf_counter()
    model = sampling_model(model)  # converted once for every chunk
    size = chunk_size(len(vocab))
    texts: list[str] = []
    stats = GrammarStats() if grammar and vocab.tokenizer != "words" else None
    with sampling_threads(model, min(num_tunes, size), threads):
        for index, first in enumerate(range(0, num_tunes, size)):
            count = min(size, num_tunes - first)
            chunk_options = replace(options, seed=chunk_seed(options.seed, index))
            texts += sample_tunes(
                model, vocab, count, chunk_options, primer, plan, form, grammar, stats
            )
            if progress is not None:
                progress(len(texts), num_tunes)
    seconds = time.perf_counter() - start
    cut = [len(text) - len(primer) >= options.max_symbols for text in texts]
    truncated = sum(cut)
    stopped = f"stopped at --max-chars {options.max_symbols} before the end of the tune"
    notes = [
        "; ".join(note for note in (stopped if at_limit else None, grammar_note) if note) or None
        for at_limit, grammar_note in zip(
            cut, stats.notes if stats is not None else [None] * len(texts), strict=True
        )
    ]
    chars = sum(len(text) - len(primer) for text in texts)
    tunebook = tunebook_from_texts(texts, notes)
    return Composition(tunebook, texts, truncated, chars, seconds, stats, notes)
