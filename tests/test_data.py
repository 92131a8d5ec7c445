"""Batching: stateful streams continue across batches; windows are reproducible."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tunegen.data.batches import (
    IGNORE,
    StatefulBatches,
    TuneBatches,
    WindowBatches,
    encode_texts,
    starts_tune,
    write_splits,
)
from tunegen.data.vocab import Vocabulary
from tunegen.errors import CorpusError
from tunegen.music.abc import split_train_val


def test_encode_texts_separates_with_the_marker(oneills):
    tunes = oneills.tunes[:3]
    vocab = Vocabulary.from_texts(t.text for t in tunes)
    ids = encode_texts([t.text for t in tunes], vocab)
    assert ids[0] == 0 and ids[-1] == 0 and (ids == 0).sum() == 4
    assert vocab.decode(ids) == "".join(t.text for t in tunes)


def test_stream_b_continues_exactly_where_it_ended():
    ids = np.arange(1, 1001)
    batches = StatefulBatches(ids, batch_size=4, seq_len=16)
    steps = [batches[t] for t in range(len(batches))]
    for (x0, y0), (x1, _) in itertools.pairwise(steps):
        assert torch.equal(x1[:, 0], y0[:, -1])  # next input = last target of the same stream
        assert torch.equal(x1[:, 0] - x0[:, -1], torch.ones(4, dtype=x1.dtype))
    for b in range(4):  # concatenated rows of stream b are one contiguous slice of the corpus
        stream = torch.cat([x[b] for x, _ in steps])
        start = b * batches.stream_len
        assert torch.equal(stream, torch.from_numpy(ids[start : start + len(stream)]))
    for x, y in steps:
        assert torch.equal(y[:, :-1], x[:, 1:])


def test_stateful_needs_enough_text():
    with pytest.raises(CorpusError, match="too few"):
        StatefulBatches(np.arange(10), batch_size=16, seq_len=64)


def test_windows_are_reproducible_per_epoch():
    ids = np.arange(5000)
    windows = WindowBatches(ids, batch_size=8, seq_len=32, seed=3)
    x, y = windows[2]
    assert x.shape == (8, 32) and torch.equal(y, x + 1)
    again = WindowBatches(ids, batch_size=8, seq_len=32, seed=3)
    assert torch.equal(again[2][0], x)
    again.epoch = 1
    assert not torch.equal(again[2][0], x)
    assert len(windows) == (5000 - 1) // (8 * 32)


def _tune_ids(lengths: list[int]) -> np.ndarray:
    """<eot> tune <eot> tune ... <eot>, tune i's symbols all i + 1 (so chunks name their tune)."""
    parts = [[0]] + [[i + 1] * n + [0] for i, n in enumerate(lengths)]
    return np.array([s for part in parts for s in part], dtype=np.uint8)


def test_tune_batches_start_every_tune_in_a_fresh_chunk_and_lose_no_symbol():
    lengths = [5, 1, 9, 3, 7, 2, 4, 6]  # chunks of 4: 2, 1, 3, 1, 2, 1, 2, 2 = 14
    ids = _tune_ids(lengths)
    batches = TuneBatches(ids, batch_size=2, seq_len=4, seed=1)
    assert len(batches) == 9  # 7 chunks a stream, and room for a tune of 3 cut later
    segments: list[list[list[int]]] = [[[]], [[]]]  # per row: its tunes' targets, fresh or not
    started = []
    for step in range(len(batches)):
        x, y = batches[step]
        assert x.shape == y.shape == (2, 4)
        fresh = starts_tune(x, y)
        for row in range(2):
            real = y[row] != IGNORE
            if not real.any():  # this stream has ended
                assert (x[row] == 0).all()
                continue
            assert real[0] and (real.cummin(0).values == real).all()  # padding only at the end
            assert (x[row][~real] == 0).all()
            assert torch.equal(y[row][real][:-1], x[row][1:][real[1:]])  # targets shifted by one
            assert bool(fresh[row]) == (x[row][0] == 0)  # no chunk starts in padding
            if fresh[row]:
                started.append(int(y[row][0]))
                segments[row].append([])
            segments[row][-1].extend(int(s) for s in y[row][real])
    assert sorted(started) == list(range(1, 9))  # every tune, once
    for rows in segments:  # a stream starts with a tune's start, and every tune is whole
        assert rows[0] == []
        for targets in rows[1:]:
            tune = targets[0]
            assert targets == [tune] * lengths[tune - 1] + [0]


def test_tune_batches_shuffle_tunes_per_epoch_reproducibly():
    ids = _tune_ids([3] * 40)
    batches = TuneBatches(ids, batch_size=4, seq_len=4, seed=2)
    first = [batches[t][1] for t in range(len(batches))]
    again = TuneBatches(ids, batch_size=4, seq_len=4, seed=2)
    assert all(torch.equal(a, again[t][1]) for t, a in enumerate(first))
    again.epoch = 1
    assert not all(torch.equal(a, again[t][1]) for t, a in enumerate(first))


def test_a_few_tunes_fill_what_they_can_and_the_other_rows_are_empty():
    """4 chunks for 3 streams (fine-tuning on a few tunes): every symbol once, and rows with no
    target where a stream has run out; an empty corpus is refused."""
    batches = TuneBatches(_tune_ids([3, 2, 5]), batch_size=3, seq_len=4, seed=0)
    assert len(batches) == 3  # chunks 1, 1, 2: 2 a stream, and room for the tune of 2
    rows = [y for step in range(len(batches)) for y in batches[step][1].tolist()]
    assert sum(all(t == IGNORE for t in row) for row in rows) == 9 - 4
    targets = sorted(t for row in rows for t in row if t != IGNORE)
    assert targets == sorted([1] * 3 + [2] * 2 + [3] * 5 + [0] * 3)
    with pytest.raises(CorpusError, match="too few"):
        TuneBatches(np.zeros(1, dtype=np.uint8), batch_size=4, seq_len=4, seed=0)


def test_split_files_hold_split_train_vals_tunes_and_read_back_exactly(oneills, tmp_path):
    tunes = oneills.tunes[:400]
    splits = write_splits((t.text for t in tunes), tmp_path, 0.05)
    train, val = split_train_val(tunes, 0.05)
    assert list(splits["train"]) == [t.text for t in train]
    assert list(splits["val"]) == [t.text for t in val] and len(splits["val"]) == len(val) > 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus-train.txt", "corpus-val.txt"]


def test_a_tiny_corpus_still_holds_one_tune_out(oneills, tmp_path):
    tunes = oneills.tunes[:3]
    splits = write_splits((t.text for t in tunes), tmp_path, 0.01)
    train, val = split_train_val(tunes, 0.01)
    assert (list(splits["train"]), list(splits["val"])) == (
        [t.text for t in train],
        [t.text for t in val],
    )
    assert len(val) == 1
    with pytest.raises(CorpusError, match="at least 2 tunes"):
        write_splits(iter([tunes[0].text]), tmp_path / "one", 0.05)
    assert not list((tmp_path / "one").iterdir())  # no partial files left behind


def test_copies_follow_in_rounds_and_a_held_out_tunes_copies_never_train(oneills, tmp_path):
    tunes = [t.text for t in oneills.tunes[:4]]
    train, val = split_train_val(oneills.tunes[:4], 0.01)  # none below 0.01: one is held out

    def augment(text: str) -> list[str]:  # two copies, marked
        return [text.replace("T:", f"T:copy {n} of ", 1) for n in range(2)]

    splits = write_splits(iter(tunes), tmp_path, 0.01, augment)
    kept = [t.text for t in train]
    assert list(splits["val"]) == [t.text for t in val] and len(val) == 1
    expected = kept + [copy for n in range(2) for text in kept for copy in augment(text)[n : n + 1]]
    assert list(splits["train"]) == expected
    assert splits["train"].originals == len(kept) == 3  # then the copies
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus-train.txt", "corpus-val.txt"]


def test_key_copies_teach_the_music_not_the_key():
    """In tunes mode the K: value of a key copy (the header's, not a key change in the body) is
    no target; everything else of the copy is, and the corpus's own tunes are whole."""
    from tunegen.training.datamodule import key_field_ids

    texts = ["X:1\nT:a\nK:G\nGAB|\n", "X:1\nT:a\nK:Edor\nEFG|\nK:A\nA|\n"]
    vocab = Vocabulary.from_texts(texts)
    ids = encode_texts(texts, vocab)
    batches = TuneBatches(ids, 1, 40, 0, copies_from=1, key_field=key_field_ids(vocab))
    targets = ["".join("#" if t == IGNORE else vocab.symbols[t] for t in batches[s][1][0])
               for s in range(len(batches))]  # fmt: skip
    own = next(t for t in targets if "GAB" in t)
    assert own.startswith("X:1\nT:a\nK:G\nGAB|\n")
    copy = next(t for t in targets if "EFG" in t)
    assert copy.startswith("X:1\nT:a\nK:####\nEFG|\nK:A\nA|\n")
    assert TuneBatches(ids, 1, 40, 0).hidden is None  # without copies: nothing hidden
