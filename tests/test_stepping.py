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
    """The LSTM step written out with fresh arrays: c = f * c + i * g, h = o * tanh(c)."""
    size, x = stepper.hidden, None
    for layer, (h, c) in enumerate(state):
        if layer == 0:
            gates = stepper.table[ids] + h @ stepper.w_hh0
        else:
            xh = np.concatenate([x, h], axis=1)
            gates = xh @ stepper.w_upper[layer - 1] + stepper.b_upper[layer - 1]
        t = np.tanh(gates)
        sig = t * 0.5 + 0.5
        c = sig[:, size : 2 * size] * c + sig[:, :size] * t[:, 2 * size : 3 * size]
        x = sig[:, 3 * size :] * np.tanh(c)
        state[layer] = (x, c)
    return x @ stepper.head_w + stepper.head_b


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
    state = [(np.zeros((batch, 16), np.float32),) * 2 for _ in range(layers)]
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
