"""Evaluate generated tunes against a corpus: validity, metre, structure, novelty and style."""

from __future__ import annotations

import atexit
import random
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tunegen.errors import CorpusError, RenderError, WorkerError
from tunegen.evaluation import style
from tunegen.evaluation.novelty import NoveltyIndex
from tunegen.music.abc import Corpus, Tune, read_abc_file, resolve_abc_files
from tunegen.music.abc_music21 import music21_score
from tunegen.music.abc_rhythm import read_bars
from tunegen.music.abc_syntax import key_name
from tunegen.music.bounds import LIMITS, check_tune
from tunegen.music.melody import Melody, bars_melody, midi_melody
from tunegen.music.metre import MetreResult, Structure, bar_structure, metre_share
from tunegen.render.sheet import verovio_toolkit
from tunegen.runtime.worker import WorkerPool, failure_reason

__all__ = ["NoveltyIndex", "check_validity", "evaluate", "load_generated", "metre_share"]

MIDI_SUFFIXES = (".mid", ".midi")
SHARE_BINS = np.linspace(0, 1, 21)


@dataclass
class TuneFacts:
    """What evaluation needs of one tune; metre, structure, key and metre are ABC only."""

    title: str
    melody: Melody
    metre: MetreResult | None = None
    structure: Structure | None = None
    key: str | None = None
    meter: str | None = None


@dataclass
class Generated:
    """Generated tunes read from ABC or MIDI, and the items that could not be read at all."""

    kind: str  # "abc" or "midi"
    source: str
    facts: list[TuneFacts]
    tunes: list[Tune] = field(default_factory=list)  # ABC only, parallel to facts
    unreadable: list[str] = field(default_factory=list)  # one "where: why" line each


def abc_facts(tune: Tune) -> TuneFacts:
    """Read `tune` once for its melody, bar lengths and structure."""
    bars = read_bars(tune)
    return TuneFacts(
        tune.title,
        bars_melody(bars),
        metre_share(tune),
        bar_structure(bars),
        key_name(tune.field("K")),
        tune.field("M") or "none",
    )


def _facts_or_reason(tune: Tune) -> TuneFacts | str:
    """The tune's facts, or why they cannot be read (say, a "(0" tuplet): one line, not a stop."""
    try:
        return abc_facts(tune)
    except Exception as err:  # one odd tune is one line in the report, never the whole run
        return failure_reason(err)


def load_generated(spec: str) -> Generated:
    """Read generated tunes: an ABC file, folder or glob, or a .mid file or folder of them."""
    path = Path(spec)
    if path.is_dir():
        midi_files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES)
        if midi_files:
            return _load_midi(spec, midi_files)
    elif path.suffix.lower() in MIDI_SUFFIXES:
        return _load_midi(spec, [path])
    generated = Generated("abc", spec, [])
    for file in resolve_abc_files(spec):
        tunes, report = read_abc_file(file)
        generated.tunes.extend(tunes)
        generated.unreadable.extend(p for p in report.problems if "dropped tune" in p)
    kept = []
    for number, tune in enumerate(generated.tunes, 1):
        facts = _facts_or_reason(tune)
        if isinstance(facts, str):
            generated.unreadable.append(f"tune {number} ({tune.title}): {facts}")
        else:
            kept.append((tune, facts))
    generated.tunes, generated.facts = [t for t, _ in kept], [f for _, f in kept]
    if not generated.facts:
        raise CorpusError(f"{spec}: no tunes to evaluate")
    return generated


def _load_midi(spec: str, files: list[Path]) -> Generated:
    generated = Generated("midi", spec, [])
    for file in files:
        try:
            melody = midi_melody(file)
        except CorpusError as err:
            generated.unreadable.append(str(err))
            continue
        except Exception as err:  # a MIDI file symusic chokes on costs its own line only
            generated.unreadable.append(f"{file}: {failure_reason(err)}")
            continue
        if not melody:
            generated.unreadable.append(f"{file}: no pitched notes (drums only?)")
            continue
        generated.facts.append(TuneFacts(file.stem, melody))
    if not generated.facts:
        raise CorpusError(f"{spec}: no readable MIDI files")
    return generated


def music21_error(text: str) -> str | None:
    """The error music21 raises parsing ABC `text`, or None; its warnings are not failures."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # without beams: they are two thirds of the parse
            music21_score(text, beams=False)
        except Exception as err:  # music21 raises many kinds of error for bad ABC
            return f"music21: {type(err).__name__}: {str(err).splitlines()[0][:160]}"
    return None


def verovio_error(text: str) -> str | None:
    """The error when verovio cannot load ABC `text`; None if it can or is not installed."""
    toolkit = verovio_toolkit()
    if toolkit is None or toolkit.loadData(text):
        return None
    return f"verovio: cannot load the tune {toolkit.getLog().strip()}".strip()


def _errors(text: str) -> tuple[str | None, str | None]:
    return music21_error(text), verovio_error(text)


def _music21_only(text: str) -> tuple[str | None, str | None]:
    return music21_error(text), None


# Worker processes for the validity checks, kept between calls: verovio crashes on some input
# (6.4.1 on a `:]` bar line) and music21 can run for minutes on a tune past the limits; a crash
# or a timeout must cost one tune, not the whole evaluation.
_CHECKERS = WorkerPool("validity check")
atexit.register(_CHECKERS.close)


def validity_errors(tunes: Sequence[Tune], jobs: int) -> list[tuple[str | None, str | None]]:
    """(music21 error, verovio error) per tune, numbered 1..N; a tune past the limits fails both
    with the limit's reason, and a crashed check is put down to verovio once music21 alone has
    read the tune again."""
    results: list[tuple[str | None, str | None] | None] = [None] * len(tunes)
    texts: dict[int, str] = {}
    for index, tune in enumerate(tunes):
        try:
            check_tune(tune)
            texts[index] = tune.abc(index + 1)
        except RenderError as err:
            results[index] = (f"limits: {err}", f"limits: {err}")
    checked = _CHECKERS.map(
        _errors, [(text,) for text in texts.values()], jobs, LIMITS.tune_seconds
    )
    crashed = []
    for index, outcome in zip(texts, checked, strict=True):
        if isinstance(outcome, WorkerError) and "crashed" in str(outcome):
            crashed.append(index)
        elif isinstance(outcome, WorkerError):
            results[index] = (f"music21: {outcome}", f"verovio: {outcome}")
        else:
            results[index] = outcome
    again = _CHECKERS.map(_music21_only, [(texts[i],) for i in crashed], 1, LIMITS.tune_seconds)
    for index, outcome in zip(crashed, again, strict=True):
        music21 = f"music21: {outcome}" if isinstance(outcome, WorkerError) else outcome[0]
        results[index] = (music21, "verovio: crashed loading the tune")
    return results  # type: ignore[return-value]


def check_validity(tune: Tune) -> tuple[bool, str | None]:
    """(True, None) if music21 and verovio both read `tune`, else (False, the first error)."""
    music21, verovio = validity_errors([tune], jobs=1)[0]
    error = music21 or verovio
    return error is None, error


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _validity(generated: Generated, jobs: int) -> dict:
    failures = [{"tune": None, "title": None, "error": line} for line in generated.unreadable]
    total = len(generated.facts) + len(generated.unreadable)
    if generated.kind == "midi":  # a MIDI file is valid when symusic reads notes from it
        rate = _share(len(generated.facts), total)
        return {
            "total": total,
            "music21": rate,
            "verovio": None,
            "valid": rate,
            "failures": failures,
        }
    music21_bad = verovio_bad = 0
    checked = validity_errors(generated.tunes, jobs)
    for number, (tune, errors) in enumerate(zip(generated.tunes, checked, strict=True), 1):
        music21_bad += errors[0] is not None
        verovio_bad += errors[1] is not None
        if any(errors):
            first = next(e for e in errors if e)
            failures.append({"tune": number, "title": tune.title, "error": first})
    has_verovio = verovio_toolkit() is not None
    return {
        "total": total,
        "music21": _share(total - len(generated.unreadable) - music21_bad, total),
        "verovio": _share(total - len(generated.unreadable) - verovio_bad, total)
        if has_verovio
        else None,
        "valid": _share(total - len(failures), total),
        "failures": failures,
    }


def _metre_summary(facts: Sequence[TuneFacts]) -> dict:
    results = [f.metre for f in facts if f.metre is not None and f.metre.bars_total]
    shares = [r.share for r in results]
    bars_total = sum(r.bars_total for r in results)
    return {
        "tunes_checked": len(results),
        "every_bar_right": _share(sum(r.all_right for r in results), len(results)),
        "bars_right": _share(sum(r.bars_right for r in results), bars_total),
        "share_histogram": np.histogram(shares, bins=SHARE_BINS)[0].tolist(),
    }


def _metre(generated: Generated, corpus_facts: Sequence[TuneFacts]) -> dict | None:
    if generated.kind != "abc":
        return None
    per_tune = [
        {"tune": n, "bars": f.metre.bars_total, "right": f.metre.bars_right, "wrong": f.metre.wrong}
        for n, f in enumerate(generated.facts, 1)
        if f.metre is not None
    ]
    return {
        "tunes": _metre_summary(generated.facts),
        "corpus": _metre_summary(corpus_facts),
        "per_tune": per_tune,
    }


def _structure_summary(facts: Sequence[TuneFacts]) -> dict:
    found = [f.structure for f in facts if f.structure is not None]

    def mean(values: list[int]) -> float | None:
        return round(statistics.fmean(values), 2) if values else None

    return {
        "bars": mean([s.bars for s in found]),
        "parts": mean([s.parts for s in found]),
        "repeats": mean([s.repeats for s in found]),
        "parts_count": dict(sorted(Counter(str(s.parts) for s in found).items())),
    }


def _novelty(
    generated: Generated, titles: Sequence[str], corpus_facts: Sequence[TuneFacts], sample: int
) -> dict:
    index = NoveltyIndex([f.melody for f in corpus_facts])
    per_tune = []
    for number, facts in enumerate(generated.facts, 1):
        near = index.nearest(facts.melody)
        title = titles[near.index] if near.index is not None else None
        per_tune.append(
            {
                "tune": number,
                "title": facts.title,
                "nearest": title,
                "run": near.run,
                "notes": near.notes,
                "share": round(near.share, 4),
                "copy": near.copy,
            }
        )
    chosen = random.Random(0).sample(range(len(corpus_facts)), min(sample, len(corpus_facts)))
    reference = [index.nearest(corpus_facts[i].melody, exclude=i) for i in chosen]
    return {
        "tunes": {
            "copy_rate": _share(sum(p["copy"] for p in per_tune), len(per_tune)),
            "median_share": round(statistics.median(p["share"] for p in per_tune), 4),
        },
        "corpus": {
            "sample": len(reference),
            "copy_rate": _share(sum(r.copy for r in reference), len(reference)),
            "median_share": round(statistics.median(r.share for r in reference), 4)
            if reference
            else None,
        },
        "per_tune": per_tune,
    }


def _style(facts: Sequence[TuneFacts], corpus_facts: Sequence[TuneFacts]) -> dict:
    ours, theirs = [f.melody for f in facts], [f.melody for f in corpus_facts]
    section: dict = {}
    pairs = {
        "pitch_classes": style.pitch_class_counts,
        "intervals": style.interval_counts,
        "pitch_range": lambda ms: style.range_counts(style.pitch_ranges(ms)),
        "note_density": lambda ms: style.density_counts(style.note_densities(ms)),
    }
    for name, counts in pairs.items():
        a, b = counts(ours), counts(theirs)
        section[name] = {"tunes": a.tolist(), "corpus": b.tolist(), "overlap": style.overlap(a, b)}
    per_tune = {"pitch_range": style.pitch_ranges, "note_density": style.note_densities}
    for name, values in per_tune.items():
        section[name]["mean_tunes"] = round(float(np.mean(values(ours) or [0])), 3)
        section[name]["mean_corpus"] = round(float(np.mean(values(theirs) or [0])), 3)
    for name in ("key", "meter"):
        a = Counter(getattr(f, name) for f in facts if getattr(f, name) is not None)
        b = Counter(getattr(f, name) for f in corpus_facts)
        if a:
            section[name] = {
                "tunes": dict(a.most_common()),
                "corpus": dict(b.most_common(12)),
                "overlap": style.category_overlap(a, b),
            }
    return section


def evaluate(
    generated: Generated,
    corpus: Corpus,
    validity: bool = True,
    reference_sample: int = 200,
    jobs: int = 2,
) -> dict:
    """The whole evaluation as a JSON-ready dict; `validity=False` skips music21 and verovio,
    which otherwise run in `jobs` worker processes."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal start
        seconds[stage] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()

    read = [(tune.title, _facts_or_reason(tune)) for tune in corpus.tunes]
    corpus_titles = [title for title, facts in read if not isinstance(facts, str)]
    corpus_facts = [facts for _, facts in read if not isinstance(facts, str)]
    lap("corpus bars and melodies")
    report: dict = {
        "tunes": {
            "source": generated.source,
            "kind": generated.kind,
            "count": len(generated.facts),
            "unreadable": len(generated.unreadable),
        },
        "corpus": {"source": corpus.description, "count": len(corpus.tunes)},
    }
    report["validity"] = _validity(generated, jobs) if validity else None
    lap("validity")
    report["metre"] = _metre(generated, corpus_facts)
    report["structure"] = {
        "tunes": _structure_summary(generated.facts),
        "corpus": _structure_summary(corpus_facts),
    }
    lap("metre and structure")
    report["novelty"] = _novelty(generated, corpus_titles, corpus_facts, reference_sample)
    lap("novelty")
    report["style"] = _style(generated.facts, corpus_facts)
    lap("style")
    report["seconds"] = seconds
    return report
