"""Find the nearest training tune by interval n-grams and the longest note run shared with it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tunegen.music.abc import Tune
from tunegen.music.melody import Melody, abc_melody

GRAM = 6  # intervals per indexed n-gram: a shared gram is a shared run of 7 notes
CANDIDATES = 8  # tunes sharing the most grams that get an exact longest-run comparison
MATRIX_CELLS = 2**20  # cells of the match matrix held at once by longest_shared_run
COPY_SHARE = 0.5  # a run over this share of the generated tune's notes flags a copy


@dataclass(frozen=True)
class Nearest:
    """The training tune nearest to a query and the longest run of notes they share."""

    index: int | None  # position of the nearest tune in the indexed list; None if no gram shared
    run: int  # notes in the longest shared run (transposition-invariant)
    notes: int  # notes in the query

    @property
    def share(self) -> float:
        return self.run / self.notes if self.notes else 0.0

    @property
    def copy(self) -> bool:
        """True when the shared run covers at least half of the query's notes."""
        return self.notes > 0 and self.share >= COPY_SHARE


def intervals(melody: Melody) -> np.ndarray:
    """Semitone steps between consecutive notes: equal under transposition."""
    pitches = np.array([pitch for pitch, _ in melody], dtype=np.int16)
    return np.diff(pitches) if len(pitches) > 1 else np.zeros(0, dtype=np.int16)


def _grams(steps: np.ndarray) -> set[bytes]:
    """The distinct interval n-grams of a tune, as bytes (hashable and cheap)."""
    data = steps.astype(np.int16).tobytes()
    width = 2 * GRAM
    return {data[i : i + width] for i in range(0, len(data) - width + 2, 2)}


def _melody(tune: Tune | Melody) -> Melody:
    return abc_melody(tune) if isinstance(tune, Tune) else tune


def longest_shared_run(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common substring of two interval arrays.

    The match matrix is skewed so that its diagonals become columns; a column's longest run of
    matches is its running count minus the count at its last mismatch. Diagonals are taken in
    blocks of about MATRIX_CELLS cells, so two 3,000-bar tunes need megabytes, not gigabytes.
    """
    if len(a) == 0 or len(b) == 0:
        return 0
    if len(a) > len(b):  # the matrix has len(a) x (len(a) + len(b)) cells: a the shorter
        a, b = b, a
    if len(a) * (len(a) + len(b)) > 4 * MATRIX_CELLS:
        return _longest_by_search(a, b)
    rows = np.arange(len(a))[:, None]
    diagonals = len(a) + len(b) - 1
    block = max(1, MATRIX_CELLS // len(a))
    best = 0
    for first in range(0, diagonals, block):
        columns = np.arange(first, min(first + block, diagonals))[None, :]
        j = columns - (len(a) - 1) + rows  # [len(a), block]: b's index on each diagonal
        inside = (j >= 0) & (j < len(b))
        skewed = (inside & (a[:, None] == b[np.clip(j, 0, len(b) - 1)])).astype(np.int32)
        counts = np.cumsum(skewed, axis=0)
        last_miss = np.maximum.accumulate(np.where(skewed == 1, 0, counts), axis=0)
        best = max(best, int((counts - last_miss).max()))
    return best


_PRIMES = (2_147_483_629, 2_147_483_587)  # two moduli under 2**31: products fit in int64
_BASE = 1_000_003


def _prefix_hashes(steps: np.ndarray, prime: int) -> np.ndarray:
    prefix = np.zeros(len(steps) + 1, dtype=np.int64)
    value = 0
    for i, step in enumerate(steps.tolist()):
        value = (value * _BASE + step + 64) % prime
        prefix[i + 1] = value
    return prefix


def _window_keys(prefixes: list[np.ndarray], k: int) -> np.ndarray:
    """One 62-bit key per run of k steps: two polynomial hashes, mod two primes."""
    first, second = (
        (prefix[k:] - prefix[:-k] * pow(_BASE, k, prime) % prime) % prime
        for prefix, prime in zip(prefixes, _PRIMES, strict=True)
    )
    return first * _PRIMES[1] + second


def _longest_by_search(a: np.ndarray, b: np.ndarray) -> int:
    """The same length for long tunes (a 3,000-bar tune has 24,000 notes: a matrix of 576 M
    cells) in O((len(a) + len(b)) log) time: binary search on the length k (a shared run of k
    implies one of k - 1), each k tested by hashing every run of k; a hash hit is confirmed by
    comparing the runs themselves."""
    pa = [_prefix_hashes(a, prime) for prime in _PRIMES]
    pb = [_prefix_hashes(b, prime) for prime in _PRIMES]

    def shared(k: int) -> bool:
        keys_a, keys_b = _window_keys(pa, k), _window_keys(pb, k)
        first = {key: i for i, key in enumerate(keys_a.tolist())}
        hits = np.flatnonzero(np.isin(keys_b, keys_a))
        return any(np.array_equal(a[first[keys_b[j]] :][:k], b[j : j + k]) for j in hits[:64])

    low, high = 0, min(len(a), len(b))  # a run of `low` is shared; none longer than `high`
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if shared(middle) else (low, middle - 1)
    return low


class NoveltyIndex:
    """An inverted index from interval n-grams to the training tunes that contain them."""

    def __init__(self, tunes: Sequence[Tune | Melody]) -> None:
        self.steps = [intervals(_melody(tune)) for tune in tunes]
        self.postings: dict[bytes, list[int]] = defaultdict(list)
        for number, steps in enumerate(self.steps):
            for gram in _grams(steps):
                self.postings[gram].append(number)

    def nearest(self, tune: Tune | Melody, exclude: int | None = None) -> Nearest:
        """The indexed tune sharing the longest note run with `tune` (`exclude`: leave one out).

        Only tunes sharing at least one n-gram are compared, so runs shorter than GRAM + 1 notes
        count as 0; a run of k intervals is a run of k + 1 notes.
        """
        melody = _melody(tune)
        steps = intervals(melody)
        hits: Counter[int] = Counter()
        for gram in _grams(steps):
            hits.update(self.postings.get(gram, ()))
        hits.pop(exclude, None)
        best_index, best_run = None, 0
        for index, _ in hits.most_common(CANDIDATES):
            run = longest_shared_run(steps, self.steps[index])
            if run > best_run:
                best_index, best_run = index, run
        return Nearest(best_index, best_run + 1 if best_index is not None else 0, len(melody))
