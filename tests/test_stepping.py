"""The numpy LSTM step computes in place in buffers of its own, bit for bit as the plain
formulation does (so fixed-seed samples never change), and rows save and restore independently."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunegen.models import build_model
from tunegen.models.stepping import NumpyLSTMStepper

VOCAB = 23


def plain_step(stepper: NumpyLSTMStepper, ids: np.ndarray, state: list) -> np.ndarray:
    """The LSTM step written out with fresh arrays, one column per row: c = f * c + i * g,
    h = o * tanh(c)."""
    size, x = stepper.hidden, None
    for layer, (h, c) in enumerate(state):
        if layer == 0:
            gates = stepper.table[ids].T + stepper.w_hh0 @ h
        else:
            xh = np.concatenate([x, h], axis=0)
            gates = stepper.w_upper[layer - 1] @ xh + stepper.b_upper[layer - 1]
        t = np.tanh(gates)
        sig = t * 0.5 + 0.5
        c = sig[size : 2 * size] * c + sig[:size] * t[2 * size : 3 * size]
        x = sig[3 * size :] * np.tanh(c)
        state[layer] = (x, c)
    return np.ascontiguousarray((stepper.head_w @ x + stepper.head_b).T)


@pytest.mark.parametrize("layers, head", [(1, 0), (3, 0), (2, 12)])
@pytest.mark.parametrize("batch", [1, 5])
def test_in_place_step_is_bit_for_bit_the_plain_one(layers, head, batch):
    torch.manual_seed(layers + batch)
    model = build_model(
        {"vocab_size": VOCAB, "embedding_size": 8, "hidden_size": 16, "num_layers": layers,
         "head_size": head}
    ).eval()  # fmt: skip
    stepper = NumpyLSTMStepper(model)
    stepper.reset(batch)
    state = [(np.zeros((16, batch), np.float32),) * 2 for _ in range(layers)]
    rng = np.random.default_rng(0)
    returned = []
    for _ in range(30):
        ids = rng.integers(0, VOCAB, batch)
        expected = plain_step(stepper, ids, state)
        logits = stepper.step(ids)
        assert logits.tobytes() == expected.tobytes()
        for (h, c), (plain_h, plain_c) in zip(stepper.state, state, strict=True):
            assert h.tobytes() == plain_h.tobytes() and c.tobytes() == plain_c.tobytes()
        returned.append(logits)
    # each step returns logits of its own: a caller may keep or mask them
    assert len({id(logits) for logits in returned}) == len(returned)


def test_rows_restore_into_the_in_place_state():
    torch.manual_seed(0)
    model = build_model({"vocab_size": VOCAB, "hidden_size": 16, "num_layers": 2}).eval()
    stepper = NumpyLSTMStepper(model)
    stepper.reset(3)
    assert all(h is not c for h, c in stepper.state)  # written in place: never one shared array
    ids = np.array([1, 2, 3])
    saved = stepper.save_rows(np.array([0, 1, 2]), None)  # the zero state
    first = stepper.step(ids)
    stepper.step(ids)
    stepper.restore_rows(np.array([1]), saved)
    again = stepper.step(ids)
    assert again[1].tobytes() == first[1].tobytes()  # row 1 started over from zero
    assert again[0].tobytes() != first[0].tobytes()  # the others went on


def test_retired_rows_are_no_longer_computed_and_the_rest_go_on_unchanged():
    torch.manual_seed(1)
    model = build_model({"vocab_size": VOCAB, "hidden_size": 16, "num_layers": 3}).eval()
    full, compact = NumpyLSTMStepper(model), NumpyLSTMStepper(model)
    full.reset(6)
    compact.reset(6)
    rng = np.random.default_rng(1)
    saved_full = saved_compact = None
    for step in range(40):
        ids = rng.integers(0, VOCAB, 6)
        expected, logits = full.step(ids), compact.step(ids)
        live = compact.order[: compact.live]
        np.testing.assert_allclose(logits[live], expected[live], rtol=1e-5, atol=1e-6)
        assert not logits[compact.order[compact.live :]].any()  # retired rows: zeros
        if step in (5, 12, 20):  # rows 1, 0 then 4 finish: the live ones move, not their state
            compact.retire(np.array([{5: 1, 12: 0, 20: 4}[step]]))
        if step == 8:  # rows 3 and 5 remember their state, and go back to it at step 15
            saved_full = full.save_rows(np.array([3, 5]), None)
            saved_compact = compact.save_rows(np.array([3, 5]), None)
        if step == 15:
            full.restore_rows(np.array([3, 5]), saved_full)
            compact.restore_rows(np.array([3, 5]), saved_compact)
    assert compact.live == 3 and sorted(compact.order[:3]) == [2, 3, 5]
    compact.retire(np.array([2, 3, 5, 2]))  # all of them, one twice
    assert compact.live == 0 and not compact.step(np.zeros(6, np.int64)).any()


def test_a_few_rows_step_as_each_would_alone():
    """Up to ROWWISE_ROWS live rows of a large layer are multiplied one by one (OpenBLAS repacks
    a large matrix for every small product): each row's state is bit for bit its own at batch
    1, and its logits and a larger batch's are the same numbers to rounding."""
    from tunegen.models.stepping import ROWWISE_HIDDEN, ROWWISE_ROWS

    torch.manual_seed(0)
    size = ROWWISE_HIDDEN
    model = build_model({"vocab_size": VOCAB, "hidden_size": size, "num_layers": 2}).eval()
    rows = ROWWISE_ROWS
    rng = np.random.default_rng(1)
    ids = rng.integers(0, VOCAB, (20, 8))
    together, alone = NumpyLSTMStepper(model), [NumpyLSTMStepper(model) for _ in range(rows)]
    big = NumpyLSTMStepper(model)
    together.reset(rows)
    big.reset(8)
    for stepper in alone:
        stepper.reset(1)
    for step in ids:
        logits = together.step(step[:rows])
        assert together._columns is not None
        for row, stepper in enumerate(alone):
            own = stepper.step(step[row : row + 1])[0]
            np.testing.assert_allclose(logits[row], own, rtol=1e-5, atol=1e-6)
            for (h, c), (own_h, own_c) in zip(together.state, stepper.state, strict=True):
                assert h[:, row].tobytes() == own_h[:, 0].tobytes()
                assert c[:, row].tobytes() == own_c[:, 0].tobytes()
        np.testing.assert_allclose(big.step(step)[:rows], logits, rtol=1e-4, atol=1e-5)
    assert big._columns is None


def test_a_row_retired_at_this_step_is_neither_saved_nor_restored():
    """The sampling loop retires the rows that ended at a step, then saves the rows that marked
    a bar at it: a row can be both. Its state is gone; the others' are saved and restored."""
    torch.manual_seed(2)
    model = build_model({"vocab_size": VOCAB, "hidden_size": 16, "num_layers": 2}).eval()
    stepper = NumpyLSTMStepper(model)
    stepper.reset(4)
    reference = NumpyLSTMStepper(model)
    reference.reset(4)
    ids = np.array([1, 2, 3, 4])
    saved = stepper.save_rows(np.array([0, 1, 2, 3]), None)
    stepper.step(ids)
    reference.step(ids)
    second = reference.step(ids)  # every row's second step
    stepper.retire(np.array([1]))
    saved = stepper.save_rows(np.array([1, 3]), saved)  # row 1 has just been retired
    stepper.step(ids)
    stepper.restore_rows(np.array([1, 3]), saved)
    again = stepper.step(ids)
    np.testing.assert_allclose(again[3], second[3], rtol=1e-5, atol=1e-6)  # back one step
    assert not np.allclose(again[2], second[2])  # row 2 went on: its third step
    assert not again[1].any()  # retired: zeros
    stepper.restore_rows(np.array([0, 3]), saved)
    assert stepper.live == 3
