"""Sample until N tunes pass chosen checks (parse, metre, novelty), counting the rejections."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from torch import nn

from tunegen.data.vocab import Vocabulary
from tunegen.errors import Setting, SettingError
from tunegen.evaluation.evaluate import NoveltyIndex, check_validity, metre_share
from tunegen.music.abc import Tune, parse_tunebook, tunebook_from_texts
from tunegen.sampling.form import FormPlan
from tunegen.sampling.sampler import Composition, GrammarStats, HeaderPlan, SamplingOptions, compose

CHECKS = ("valid", "metre", "novel")


def parse_checks(text: str) -> tuple[str, ...]:
    """'valid,novel' -> ("valid", "novel"); an unknown name is a UsageError."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in CHECKS]
    if unknown or not names:
        raise SettingError(Setting("keep"), f" takes {','.join(CHECKS)}; got {text!r}")
    return names


@dataclass
class Selection:
    """The kept tunes as a composition, and why the others were rejected."""

    composition: Composition
    sampled: int
    rejected: Counter[str]


def rejection(text: str, checks: Sequence[str], index: NoveltyIndex | None) -> str | None:
    """The first check that the sampled tune `text` fails, or None if it passes them all."""
    tunes, _ = parse_tunebook(f"X:1\n{text}")
    if not tunes:
        return "no header or no music"
    tune: Tune = tunes[0]
    if "valid" in checks and not check_validity(tune)[0]:
        return "does not parse"
    if "metre" in checks:  # abc2midi's verdict: no error, and every bar the right length
        result = metre_share(tune)
        if not result.no_error:
            return "an error abc2midi reports"
        if not result.all_right:
            return "a bar of the wrong length"
    if "novel" in checks and index is not None and index.nearest(tune).copy:
        return "copies a training tune"
    return None


def compose_kept(
    model: nn.Module,
    vocab: Vocabulary,
    num_tunes: int,
    options: SamplingOptions,
    checks: Sequence[str],
    corpus: Sequence[Tune] = (),
    max_samples: int | None = None,
    primer: str = "",
    plan: HeaderPlan | None = None,
    form: FormPlan | None = None,
    grammar: bool = True,
) -> Selection:
    """Sample batches until `num_tunes` pass `checks` or `max_samples` (10 x N) are drawn."""
    limit = max_samples or 10 * num_tunes
    index = NoveltyIndex(corpus) if "novel" in checks and corpus else None
    kept: list[str] = []
    notes: list[str | None] = []  # compose's note on each kept tune (it ended early)
    rejected: Counter[str] = Counter()
    stats = GrammarStats() if grammar else None
    sampled, chars, start, round_ = 0, 0, time.perf_counter(), 0
    while len(kept) < num_tunes and sampled < limit:
        batch = min(max(num_tunes - len(kept), 8), limit - sampled)
        seed = None if options.seed is None else options.seed + round_
        result = compose(
            model,
            vocab,
            batch,
            replace(options, seed=seed),
            primer,
            plan,
            form=form,
            grammar=grammar,
        )
        if stats is not None and result.grammar is not None:
            stats.merge(result.grammar)
        for text, note in zip(result.texts, result.notes, strict=True):
            reason = (
                "stopped at --max-chars" if len(text) - len(primer) >= options.max_symbols else None
            )
            reason = reason or rejection(text, checks, index)
            if reason:
                rejected[reason] += 1
            elif len(kept) < num_tunes:
                kept.append(text)
                notes.append(note)
        sampled, chars, round_ = sampled + batch, chars + result.chars, round_ + 1
    composition = Composition(
        tunebook_from_texts(kept, notes), kept, 0, chars, time.perf_counter() - start, stats
    )
    return Selection(composition, sampled, rejected)
