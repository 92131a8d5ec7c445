"""The novelty index flags copies, transposed copies included, and passes new tunes."""

import numpy as np
import pytest

from tunegen.evaluation.novelty import NoveltyIndex, longest_shared_run
from tunegen.music.abc import Tune, parse_tunebook, read_corpus
from tunegen.music.melody import abc_melody

SHARED = """X:1
T:In D
M:6/8
L:1/8
K:D
A|dfa agf|gfe dcB|AFA dFA|B2e e2f|dfa agf|gfe dcB|AFA dcB|A3 d2:|
"""
# The same tune written a fourth higher, in G.
TRANSPOSED = SHARED.replace("K:D", "K:G").replace("T:In D", "T:In G")
TRANSPOSED = TRANSPOSED.replace(
    "A|dfa agf|gfe dcB|AFA dFA|B2e e2f|dfa agf|gfe dcB|AFA dcB|A3 d2:|",
    "d|gbd' d'c'b|c'ba gfe|dBd gBd|e2a a2b|gbd' d'c'b|c'ba gfe|dBd gfe|d3 g2:|",
)
NEW = """X:1
T:New
M:4/4
L:1/8
K:Am
E2AB c2BA|G2EG D2ED|C2EG c2Bc|d2fe d2cB|^G2BG E2^GB|A4 e4|]
"""


@pytest.fixture(scope="module")
def corpus() -> list[Tune]:
    tunes = read_corpus(["oneills1850"]).tunes[:300]
    return [*tunes, parse_tunebook(SHARED)[0][0]]


@pytest.fixture(scope="module")
def index(corpus: list[Tune]) -> NoveltyIndex:
    return NoveltyIndex(corpus)


def test_a_copied_corpus_tune_is_flagged(corpus: list[Tune], index: NoveltyIndex) -> None:
    result = index.nearest(corpus[42])
    assert result.index == 42
    assert result.copy
    assert result.run == result.notes == len(abc_melody(corpus[42]))


def test_a_transposed_copy_is_flagged(corpus: list[Tune], index: NoveltyIndex) -> None:
    transposed = parse_tunebook(TRANSPOSED)[0][0]
    result = index.nearest(transposed)
    assert result.index == len(corpus) - 1
    assert result.copy and result.share == 1.0


def test_a_shifted_melody_is_flagged(corpus: list[Tune], index: NoveltyIndex) -> None:
    shifted = [(pitch - 5, duration) for pitch, duration in abc_melody(corpus[7])]
    assert index.nearest(shifted).copy


def test_a_new_tune_is_not_flagged(index: NoveltyIndex) -> None:
    result = index.nearest(parse_tunebook(NEW)[0][0])
    assert not result.copy
    assert result.share < 0.5


def test_half_a_copy_is_flagged_and_a_third_is_not(corpus: list[Tune], index: NoveltyIndex) -> None:
    copied = abc_melody(corpus[42])
    fresh = abc_melody(parse_tunebook(NEW)[0][0])
    assert index.nearest(copied[:40] + fresh[:40]).copy
    assert not index.nearest(copied[:20] + fresh[:40]).copy


def test_leave_one_out_excludes_the_tune_itself(corpus: list[Tune], index: NoveltyIndex) -> None:
    assert index.nearest(corpus[42], exclude=42).index != 42


def test_a_tune_too_short_for_an_ngram_has_no_nearest(index: NoveltyIndex) -> None:
    result = index.nearest([(60, 1), (62, 1), (64, 1)])
    assert result.index is None and result.run == 0 and not result.copy


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    size = min(len(a), len(b))
    return next((k for k in range(size) if a[k] != b[k]), size)


def test_longest_shared_run_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.integers(0, 3, rng.integers(0, 10))
        b = rng.integers(0, 3, rng.integers(0, 10))
        starts = [(i, j) for i in range(len(a)) for j in range(len(b))]
        brute = max((_common_prefix(a[i:], b[j:]) for i, j in starts), default=0)
        assert longest_shared_run(a, b) == brute
