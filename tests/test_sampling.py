"""Sampling: temperature, top-k, top-p, reproducibility and imposed header fields."""

from __future__ import annotations

import string
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tunegen.data.vocab import Vocabulary
from tunegen.errors import UsageError
from tunegen.models import build_model
from tunegen.models.stepping import make_stepper
from tunegen.music.abc import parse_tunebook
from tunegen.sampling.header import MAX_HEADER_LINES, HeaderConstraint, HeaderPlan, header_starts
from tunegen.sampling.loop import BACK, KEEP, MARK, RESTART, STOP, same_primer, sample_rows
from tunegen.sampling.options import (
    GumbelNoise,
    SamplingOptions,
    choose,
    header_scale,
    with_model_defaults,
)
from tunegen.sampling.sampler import compose

VOCAB = Vocabulary.from_texts([string.ascii_letters + string.digits + " \n:|/[]()^_=,'\"#"])


def tiny_model():
    torch.manual_seed(0)
    return build_model(
        {"vocab_size": len(VOCAB), "embedding_size": 8, "hidden_size": 16, "num_layers": 2}
    ).eval()


def test_top_k_and_top_p_limit_the_choices():
    noise = GumbelNoise(0, (2000, 5))
    logits = np.tile(np.array([[4.0, 3.0, 2.0, 1.0, 0.0]]), (2000, 1))
    picked = choose(logits, SamplingOptions(top_k=2), noise.next())
    assert set(picked) == {0, 1}
    picked = choose(logits, SamplingOptions(top_p=0.5), noise.next())  # p(0) = 0.64 > 0.5
    assert set(picked) == {0}
    cold = choose(logits, SamplingOptions(temperature=0.05), noise.next())
    assert (cold == 0).mean() > 0.99
    full = choose(logits, SamplingOptions(), noise.next())
    assert abs((full == 0).mean() - 0.6439) < 0.04  # softmax([4,3,2,1,0])[0]


def test_noise_is_generator_gumbel_for_the_rows_still_sampled():
    """Each row's noise is numpy's Generator.gumbel draw for its place, whichever rows are still
    sampled, so a row's tune depends on the seed and its own row only; u == 0 (which gumbel
    draws again) is the largest noise, never NaN."""
    expected = np.random.default_rng(7).gumbel(size=(150, 6, 5)).astype(np.float32)
    noise, live = GumbelNoise(7, (6, 5), block=16), None
    for step in range(150):
        if step in (20, 40, 100):  # rows finish within blocks and at a block's start
            live = np.array({20: [0, 2, 3, 5], 40: [2, 3], 100: [3]}[step])
        drawn = noise.next(live)
        rows = slice(None) if live is None else live
        assert drawn[rows].tobytes() == expected[step][rows].tobytes()
    zero = GumbelNoise(0, (1, 3))
    zero.rng = SimpleNamespace(random=np.zeros)  # every draw u == 0
    assert np.isfinite(zero.next()).all() and (zero.next() > 700).all()


def test_options_are_validated():
    for bad in (
        SamplingOptions(temperature=0),
        SamplingOptions(top_p=0),
        SamplingOptions(top_k=-1),
        SamplingOptions(header_temperature=0),
        SamplingOptions(header_temperature=float("nan")),
    ):
        with pytest.raises(UsageError):
            bad.validate()


def test_seed_makes_sampling_reproducible():
    model, options = tiny_model(), SamplingOptions(max_symbols=200, seed=5)
    first = compose(model, VOCAB, 4, options)
    assert compose(model, VOCAB, 4, options).tunebook == first.tunebook
    other = compose(model, VOCAB, 4, SamplingOptions(max_symbols=200, seed=6))
    assert other.tunebook != first.tunebook
    assert first.tunebook.count("X:") == 4


def test_primer_starts_every_tune():
    result = compose(
        tiny_model(), VOCAB, 3, SamplingOptions(max_symbols=50, seed=1), primer="M:6/8\n"
    )
    assert all(text.startswith("M:6/8\n") for text in result.texts)


def test_row_constraint_forces_title_meter_and_key():
    row = HeaderConstraint(HeaderPlan(None, "6/8", "Dmix"), VOCAB, header_starts(VOCAB))
    emitted = ""
    # what the "model" writes when free: the colon after a field letter is forced
    script = iter("Jig\nL1/8\nKxxxxxx|ABc|\n")
    while len(emitted) < 40 and row.in_header:
        forced = row.forced()
        symbol = VOCAB.symbols[forced] if forced is not None else next(script)
        row.observe(symbol)
        emitted += symbol
    assert emitted == "T:Jig\nM:6/8\nL:1/8\nK:Dmix\n"


def test_header_plan_appears_in_every_sampled_header():
    plan = HeaderPlan("Test Tune", "3/4", None)
    result = compose(tiny_model(), VOCAB, 5, SamplingOptions(max_symbols=60, seed=2), plan=plan)
    tunes_text = result.tunebook
    assert tunes_text.count("T:Test Tune\nM:3/4\n") == 5
    _, report = parse_tunebook(tunes_text)
    assert report.read == 5


def test_header_lines_are_fields_and_the_key_comes_before_the_music():
    starts = header_starts(VOCAB)
    row = HeaderConstraint(HeaderPlan(), VOCAB, starts)
    assert set(np.flatnonzero(row.allowed())) == {VOCAB.index[c] for c in "ABCDFGHIKLMNOPQRSTUVWZ"
                                                  if c in VOCAB.index}  # fmt: skip
    row.observe("T")
    assert VOCAB.symbols[row.forced()] == ":"  # a field letter takes its colon
    row.observe(":")
    assert not row.allowed()[VOCAB.end_id]  # no tune ends in its header
    for _ in range(MAX_HEADER_LINES):
        row.observe("\n")
    assert [VOCAB.symbols[row.forced()] for _ in range(2)] == ["K", ":"]


def test_sampled_tunes_all_reach_their_music():
    result = compose(tiny_model(), VOCAB, 4, SamplingOptions(max_symbols=3000, seed=4))
    for text in result.texts:
        header = text.split("K:")[0].split("\n")[:-1]
        assert "K:" in text and all(line[1:2] == ":" for line in header), text


def test_a_models_default_temperature_applies_unless_one_is_chosen():
    exported = {"sampling": {"temperature": 0.8}}
    assert with_model_defaults(SamplingOptions(temperature=None), exported).temperature == 0.8
    assert with_model_defaults(SamplingOptions(temperature=None), {}).temperature == 1.0
    assert with_model_defaults(SamplingOptions(temperature=1.3), exported).temperature == 1.3


def test_a_models_header_temperature_applies_unless_a_temperature_is_chosen():
    exported = {"sampling": {"temperature": 0.6, "header_temperature": 0.8}}
    both = with_model_defaults(SamplingOptions(temperature=None), exported)
    assert (both.temperature, both.header_temperature) == (0.6, 0.8)
    assert header_scale(both) == pytest.approx(0.75)  # logits x 0.75, then / 0.6: / 0.8
    chosen = with_model_defaults(SamplingOptions(temperature=1.0), exported)
    assert (chosen.temperature, chosen.header_temperature) == (1.0, 0.8)  # the header's stays
    plain = with_model_defaults(SamplingOptions(temperature=1.0), {"sampling": {"temperature": 2}})
    assert plain.header_temperature is None and header_scale(plain) is None
    header_only = SamplingOptions(temperature=None, header_temperature=1.2)
    assert with_model_defaults(header_only, exported).header_temperature == 1.2
    same = SamplingOptions(temperature=0.7, header_temperature=0.7)
    assert header_scale(same) is None


@pytest.mark.parametrize("grammar", [True, False], ids=["grammar", "free"])
def test_the_header_temperature_changes_the_header_alone(grammar):
    """A near-zero header temperature gives every tune of a batch the likeliest header; a header
    temperature equal to the music's changes nothing."""
    from tunegen.models.checkpoint import BUNDLED_MODEL, load_for_sampling

    bundled = load_for_sampling(BUNDLED_MODEL)
    base = SamplingOptions(0.8, max_symbols=400, seed=3)

    def texts(options):
        return compose(bundled.model, bundled.vocab, 6, options, grammar=grammar).texts

    plain = texts(base)
    assert texts(SamplingOptions(0.8, max_symbols=400, seed=3, header_temperature=0.8)) == plain
    sharp = texts(SamplingOptions(0.8, max_symbols=400, seed=3, header_temperature=0.01))
    headers = {text.split("K:")[0] + text.split("K:")[1].split("\n")[0] for text in sharp}
    assert len(headers) == 1 and len({text.split("K:")[0] for text in plain}) > 1


def test_compose_samples_in_chunks_with_flat_memory(monkeypatch):
    """N <= one chunk is one sample_tunes call with the given seed (the output of old); larger N
    is sampled chunk by chunk with derived seeds, reproducibly, in memory that does not grow."""
    import tracemalloc

    from tunegen.sampling import options as sampling_options
    from tunegen.sampling import sampler as sampling

    model, options = tiny_model(), SamplingOptions(max_symbols=40, seed=3)
    one_batch = sampling.sample_tunes(model, VOCAB, 12, options)
    assert compose(model, VOCAB, 12, options).texts == one_batch
    monkeypatch.setattr(sampling_options, "MAX_CHUNK", 8)
    seen = []
    chunked = compose(model, VOCAB, 20, options, progress=lambda done, n: seen.append((done, n)))
    assert chunked.texts[:8] == sampling.sample_tunes(model, VOCAB, 8, options)
    assert chunked.texts == compose(model, VOCAB, 20, options).texts  # reproducible
    assert chunked.texts[8:16] != chunked.texts[:8]  # each chunk has its own seed
    assert seen == [(8, 20), (16, 20), (20, 20)]
    peaks = {}
    for count in (16, 128):
        tracemalloc.start()
        compose(model, VOCAB, count, options)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[128] < 2 * peaks[16]  # 8 x the tunes, not 8 x the memory


def test_bounds_of_compose_are_usage_errors():
    model = tiny_model()
    for count, options in [
        (0, SamplingOptions()),
        (10**7, SamplingOptions()),
        (1, SamplingOptions(max_symbols=10**6)),
        (1, SamplingOptions(temperature=float("nan"))),
        (1, SamplingOptions(seed=-5)),
    ]:
        with pytest.raises(UsageError):
            compose(model, VOCAB, count, options)
    for plan in [HeaderPlan(meter="7/0"), HeaderPlan(key="Xyz"), HeaderPlan(title="A\nK:C")]:
        with pytest.raises(UsageError):
            compose(model, VOCAB, 1, SamplingOptions(), plan=plan)


class _Script:
    """A row rule that plays `actions` (one per step, then KEEP) and forces `force` if given."""

    done = False

    def __init__(self, actions: list[int], force: int | None = None) -> None:
        self.actions, self.force = list(actions), force

    def prepare(self, logits: np.ndarray) -> None:
        pass

    def accept(self, batch, row: int, chosen: int) -> tuple[int, int]:
        action = self.actions.pop(0) if self.actions else KEEP
        return action, chosen if self.force is None else self.force


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_a_row_sent_back_leaves_the_other_rows_as_they_were(kind):
    """One loop, per-row rules: row 1 marks, goes back and restarts; rows 0 and 2 write exactly
    what they write with no rule anywhere, and row 1 still fills its budget."""
    torch.manual_seed(0)
    config = {"vocab_size": len(VOCAB), "kind": kind, "num_layers": 2}
    if kind == "lstm":
        config.update(embedding_size=8, hidden_size=16)
    else:
        config.update(d_model=16, num_heads=2, context=4)
    model = build_model(config).eval()
    end, options, primers = VOCAB.end_id, SamplingOptions(seed=1), same_primer([3, 4], 3)

    def run(rules):
        stepper = make_stepper(model, rewind=True)
        return sample_rows(stepper, options, primers, rules, end, 30, 60, never=[end], rewind=True)

    plain = run([None] * 3)
    script = [KEEP, KEEP, MARK, KEEP, KEEP, BACK, KEEP, RESTART, KEEP, MARK, BACK, BACK]
    ruled = run([None, _Script(script), None])
    for row in (0, 2):
        assert ruled.result(row) == plain.result(row) and len(plain.result(row)) == 30
    assert len(ruled.result(1)) == 30 and ruled.result(1) != plain.result(1)
    assert ruled.steps == 30 + 11  # 12 scripted steps left row 1 at position 1


def test_rules_force_and_stop_rows_and_the_budget_stops_the_rest():
    model, end = tiny_model(), VOCAB.end_id
    rules = [_Script([KEEP] * 4 + [STOP], force=5), None]
    batch = sample_rows(make_stepper(model), SamplingOptions(seed=2), same_primer([], 2), rules,
                        end, 10, 10, never=[end])  # fmt: skip
    assert batch.result(0) == [5] * 4 and batch.stopped[0]  # stopped by its rule
    assert len(batch.result(1)) == 10 and not batch.stopped[1]  # stopped by the budget
    with pytest.raises(ValueError, match="rewind"):
        sample_rows(make_stepper(model), SamplingOptions(), same_primer([], 1), [_Script([MARK])],
                    end, 10, 10)  # fmt: skip


@pytest.mark.parametrize(
    "rows", [[0], [2], [1], [0, 1, 2], [1, 2]], ids=["one-end", "one-full", "one", "every", "some"]
)
def test_a_batch_writes_each_rows_symbol_and_names_the_complete_rows(rows):
    """Batch.write (one row, every row, some rows: three ways to the same answer): each row's
    symbol goes after what it wrote; a row is complete at the end symbol or at capacity."""
    from tunegen.sampling.loop import Batch

    end = VOCAB.end_id
    batch = Batch(np.zeros((3, len(VOCAB)), np.float32), SamplingOptions(), 3, end)
    batch.pos[:] = [0, 1, 2]  # row 2 is one symbol short of its capacity
    ids = np.array([end, 5, 6])
    batch.steps = 3
    rows = np.array(rows)
    done, ended = batch.write(rows, ids)
    assert done.tolist() == [r for r in rows.tolist() if r in (0, 2)]
    assert ended.tolist() == [r for r in rows.tolist() if r == 0]
    for row in rows.tolist():
        assert batch.pos[row] == row + 1 and batch.out[row, row] == ids[row]
    assert all(batch.pos[row] == row for row in {0, 1, 2} - set(rows.tolist()))
