"""Steppers: a model advanced one symbol at a time for a batch of rows, each row able to step back.

The sampler sees only this interface (see `Stepper`): `reset(B)`, `step(ids) -> logits`, and
per-row `save_rows`/`restore_rows` so that one tune of a batch can return to an earlier state
while the others carry on. `make_stepper` picks the implementation for a model. This module does
not import torch: an LSTM samples in numpy (`NumpyLSTMStepper`), other models and other devices
in torch (`tunegen.models.torch_stepping`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tunegen.models.numpy_lstm import LSTMConfig, NumpyLSTM

if TYPE_CHECKING:
    from torch import nn

    from tunegen.models.lstm import LSTMModel

# OpenBLAS multiplies 2 to 8 rows by a weight matrix larger than its caches (a 256-unit layer's
# [512, 1024] float32 is 2 MB) 4-8x slower than one row (2 quiet cores, 2026-12-05: [2, 512] @
# [512, 1024] 230 us, one row 28 us; [1024, 512] @ [512] 13 us): it repacks the matrix for
# every such product. Up to this many live rows each row is a matrix-vector product of its own.
ROWWISE_ROWS = 4
ROWWISE_HIDDEN = 256  # ... for layers of at least this size (a 128-unit layer's 0.5 MB is fast)

# What save_rows returns and restore_rows reads back; opaque to the caller.
SavedRows = Any


class Stepper(Protocol):
    """A model stepped one symbol at a time over a batch of B rows (one row = one sequence)."""

    def reset(self, batch_size: int) -> None:
        """Start `batch_size` rows from the model's initial state."""

    def step(self, ids: np.ndarray) -> np.ndarray:
        """ids [B] -> logits [B, V] (float32); advances every row's state by one symbol."""

    def save_rows(self, rows: np.ndarray, saved: SavedRows | None) -> SavedRows:
        """Remember the current state of `rows` (an index array) in `saved` (None: a new store,
        which starts as a copy of every row), and return the store."""

    def restore_rows(self, rows: np.ndarray, saved: SavedRows) -> None:
        """Put `rows` back into the state last saved for them in `saved`."""

    def retire(self, rows: np.ndarray) -> None:
        """`rows` are finished: they are never stepped, saved or restored again, and their
        logits from now on mean nothing (a stepper may stop computing them)."""


class NumpyLSTMStepper:
    """Steps an LSTMModel one symbol at a time with numpy float32 math.

    On CPU, torch's per-call overhead (~5 us an op) and this machine's MKL matrix-vector product
    (~80 us per 2 MB weight matrix vs ~26 us in numpy's OpenBLAS) dominate small-batch sampling.
    The weights are the model's StepWeights (the first layer's input projection a table).
    `state` holds per layer (h, c), each [B, H] float32, one row per position; the rows still
    being sampled are the first `live` positions (`order` [position] -> row, `where` [row] ->
    position): a finished row is retired to the end, so that a batch whose tunes have mostly
    ended steps only the few that go on.
    """

    def __init__(self, model: NumpyLSTM | LSTMModel) -> None:
        if not isinstance(model, NumpyLSTM):
            model = NumpyLSTM.from_model(model)
        weights = model.step_weights  # see StepWeights: the gates i, f, o are halved
        self.table, self.w_hh0 = weights.table, weights.w_hh0
        self.w_upper, self.b_upper = weights.w_upper, weights.b_upper
        self.w_hh0_rows, self.w_upper_rows = weights.w_hh0_rows, weights.w_upper_rows
        self.head_w, self.head_b = weights.head_w, weights.head_b
        self.hidden = model.config.hidden_size
        self.state: list[tuple[np.ndarray, np.ndarray]] = []

    def reset(self, batch_size: int) -> None:
        # Every array of a step is allocated here once and written in place with `out=`: a
        # [64, 1024] float32 temporary is 256 KB, which malloc maps and unmaps afresh each time
        # (page faults at every step), and ready-made views save a call per slice at batch 1.
        size, layers = self.hidden, 1 + len(self.w_upper)

        def zeros(width: int) -> np.ndarray:
            return np.zeros((batch_size, width), dtype=np.float32)

        # h and c are separate arrays (restore_rows and the step write them in place)
        self.state = [(zeros(size), zeros(size)) for _ in range(layers)]
        self._gates = [zeros(4 * size) for _ in range(layers)]  # [B, 4H]: i, f, g, o
        self._inputs = [zeros(2 * size) for _ in range(layers - 1)]  # [B, 2H]: [x, h] above
        self._ig = zeros(size)  # i * g
        self._sigmoids = zeros(4 * size)  # tanh(z / 2) * 0.5 + 0.5 (its g slice is not used)
        self.order = np.arange(batch_size)  # position -> row
        self.where = np.arange(batch_size)  # row -> position
        self.live = batch_size
        self._bind()

    def _bind(self) -> None:
        """Views of the first `live` positions of every buffer, made once per change of `live`
        (a slice costs a call too): per layer (h, c), the gates, [x, h] and the i, f, o
        sigmoids' and g's views."""
        size, n = self.hidden, self.live
        sig, product = self._sigmoids[:n], self._ig[:n]
        self._layers = [
            (h[:n], c[:n], g[:n], sig[:, :size], sig[:, size : 2 * size], sig[:, 3 * size :],
             g[:n, 2 * size : 3 * size])
            for (h, c), g in zip(self.state, self._gates, strict=True)
        ]  # fmt: skip
        self._live_inputs = [xh[:n] for xh in self._inputs]
        self._live_buffers = (product, sig)
        self._rowwise = n <= ROWWISE_ROWS and size >= ROWWISE_HIDDEN

    def step(self, ids: np.ndarray) -> np.ndarray:
        """ids [B] -> logits [B, V]; advances the state (in place) and returns new logits.

        Each number is computed by the same float32 operations, in the same order, as the plain
        formulation `c = f * c + i * g; h = o * tanh(c)` with `sigmoid(z) = tanh(z / 2) / 2 + 1/2`
        (products and sums are commutative in IEEE arithmetic, so `a += b` is `b + a`): the
        logits are bit for bit the same, and so is every sampled symbol.
        """
        batch = len(ids)
        if self.live < batch:  # the rows still sampled, in position order
            ids = ids[self.order[: self.live]]
        x = None
        product, sigmoids = self._live_buffers
        for layer, (h, c, gates, input_gate, forget_gate, out_gate, g) in enumerate(self._layers):
            if layer == 0:
                self._product(h, self.w_hh0, self.w_hh0_rows, gates)
                gates += self.table[ids]  # the input's projection, folded into the table
            else:
                xh = self._live_inputs[layer - 1]
                np.concatenate((x, h), axis=1, out=xh)  # [B, 2H]
                upper = layer - 1
                self._product(xh, self.w_upper[upper], self.w_upper_rows[upper], gates)
                gates += self.b_upper[upper]
            np.tanh(gates, out=gates)  # i, f, o were halved: tanh(z / 2); g: tanh(g)
            np.multiply(gates, 0.5, out=sigmoids)  # the sigmoids of i, f and o
            sigmoids += 0.5
            c *= forget_gate  # f * c
            np.multiply(input_gate, g, out=product)  # i * g
            c += product
            np.tanh(c, out=h)
            h *= out_gate  # the new h is this layer's output x
            x = h
        logits = x @ self.head_w
        logits += self.head_b
        if self.live == batch:
            return logits
        out = np.zeros((batch, logits.shape[1]), dtype=np.float32)  # retired rows: zeros
        out[self.order[: self.live]] = logits
        return out

    def _product(
        self, x: np.ndarray, weights: np.ndarray, rows: np.ndarray, out: np.ndarray
    ) -> None:
        """out = x @ weights; for a few rows of a large layer, rows @ x_b for each row b (see
        ROWWISE_ROWS; `rows` is `weights` transposed), so that each row's state is bit for bit
        what it is when the row is stepped alone."""
        if self._rowwise:
            for row in range(len(x)):
                np.matmul(rows, x[row], out=out[row])
        else:
            np.matmul(x, weights, out=out)

    def save_rows(self, rows: np.ndarray, saved: SavedRows | None) -> SavedRows:
        """See Stepper.save_rows; the store is indexed by row, the state by position."""
        if saved is None:
            saved = [(h[self.where], c[self.where]) for h, c in self.state]
        positions = self.where[rows]
        for (h, c), (sh, sc) in zip(self.state, saved, strict=True):
            sh[rows] = h[positions]
            sc[rows] = c[positions]
        return saved

    def restore_rows(self, rows: np.ndarray, saved: SavedRows) -> None:
        positions = self.where[rows]
        for (h, c), (sh, sc) in zip(self.state, saved, strict=True):
            h[positions] = sh[rows]
            c[positions] = sc[rows]

    def retire(self, rows: np.ndarray) -> None:
        """Move each of `rows` behind the live positions (swapping its state with the last live
        row's), so that steps compute only the rows still sampled."""
        for row in rows:
            position, last = self.where[row], self.live - 1
            if position > last:  # retired already
                continue
            if position != last:
                other = self.order[last]
                for h, c in self.state:
                    h[[position, last]] = h[[last, position]]
                    c[[position, last]] = c[[last, position]]
                self.order[position], self.order[last] = other, row
                self.where[other], self.where[row] = position, last
            self.live = last
        self._bind()


def numpy_lstm_config(model: NumpyLSTM | nn.Module) -> LSTMConfig | None:
    """The shape of `model` if it samples in numpy (a NumpyLSTM, or an LSTMModel on the CPU),
    else None."""
    if isinstance(model, NumpyLSTM):
        return model.config
    from tunegen.models.lstm import LSTMModel  # a torch model: torch is loaded already

    if isinstance(model, LSTMModel) and next(model.parameters()).device.type == "cpu":
        return model.config
    return None


def sampling_model(model: NumpyLSTM | nn.Module) -> NumpyLSTM | nn.Module:
    """What samples `model` fastest: an LSTMModel on the CPU as a NumpyLSTM (numpy float32 math,
    the same numbers), any other model as it is."""
    if isinstance(model, NumpyLSTM) or numpy_lstm_config(model) is None:
        return model
    return NumpyLSTM.from_model(model)


def make_stepper(model: NumpyLSTM | nn.Module, rewind: bool = False) -> Stepper:
    """The fastest stepper for `model`: numpy for LSTMs on the CPU, torch otherwise; with
    `rewind` (rows will be restored to saved states), a grouped one for Transformer memories."""
    model = sampling_model(model)
    if isinstance(model, NumpyLSTM):
        return NumpyLSTMStepper(model)
    from tunegen.models.torch_stepping import torch_stepper

    return torch_stepper(model, rewind)
