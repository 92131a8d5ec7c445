"""Style statistics of melodies: pitch-class, interval, range and density histograms."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from tunegen.music.melody import Melody

MAX_INTERVAL = 12  # steps beyond an octave are counted in the outermost bins
MAX_RANGE = 36
DENSITY_BINS = np.arange(0, 4.25, 0.25)  # notes per quarter note, 4 = semiquavers throughout


def pitch_class_counts(melodies: Sequence[Melody]) -> np.ndarray:
    """Notes per pitch class C, C#, ..., B over all melodies."""
    pitches = [pitch % 12 for melody in melodies for pitch, _ in melody]
    return np.bincount(np.array(pitches, dtype=np.int64), minlength=12)


def interval_counts(melodies: Sequence[Melody]) -> np.ndarray:
    """Steps of -12..+12 semitones between consecutive notes (wider steps clipped)."""
    steps = [np.diff([pitch for pitch, _ in melody]) for melody in melodies if len(melody) > 1]
    flat = np.clip(np.concatenate(steps), -MAX_INTERVAL, MAX_INTERVAL) if steps else np.zeros(0)
    return np.bincount(flat.astype(np.int64) + MAX_INTERVAL, minlength=2 * MAX_INTERVAL + 1)


def pitch_ranges(melodies: Sequence[Melody]) -> list[int]:
    """Highest minus lowest pitch of each non-empty melody, in semitones."""
    return [max(p for p, _ in m) - min(p for p, _ in m) for m in melodies if m]


def note_densities(melodies: Sequence[Melody]) -> list[float]:
    """Notes per quarter note of sounding time of each non-empty melody (rests left out)."""
    return [len(m) / float(sum(d for _, d in m) * 4) for m in melodies if m]


def range_counts(ranges: Sequence[int]) -> np.ndarray:
    clipped = np.clip(np.array(ranges, dtype=np.int64), 0, MAX_RANGE)
    return np.bincount(clipped, minlength=MAX_RANGE + 1)


def density_counts(densities: Sequence[float]) -> np.ndarray:
    clipped = np.clip(np.array(densities, dtype=float), 0, DENSITY_BINS[-1] - 1e-9)
    return np.histogram(clipped, bins=DENSITY_BINS)[0]


def overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Overlap area of two histograms after normalising each: 1 identical, 0 disjoint."""
    p, q = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def category_overlap(a: Counter[str], b: Counter[str]) -> float:
    """Overlap area of two categorical distributions (keys, metres)."""
    names = sorted(set(a) | set(b))
    return overlap([a[n] for n in names], [b[n] for n in names])
