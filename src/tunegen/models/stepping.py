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

# OpenBLAS multiplies a weight matrix larger than its caches (a 256-unit layer's [1024, 512]
# float32 is 2 MB) by 2 to 4 columns more slowly than by each column alone (2 quiet cores,
# 2026-12-05, a 3 x 256 LSTM's step: 4 live rows 250 us, one product per column 221 us; from 6
# columns one product wins). Up to this many live rows each row is a matrix-vector product of
# its own, which also keeps each row's state bit for bit what it is at batch 1.
ROWWISE_ROWS = 4
ROWWISE_HIDDEN = 256  # ... for layers of at least this size (a 128-unit layer's 0.5 MB is fast)
# The first layer's inputs for more than this many rows are gathered as columns of the table
# [4H, V] and added as one block, not as the transposed rows of the [V, 4H] table (a strided
# sum: 1024 x 64 of them 200 us, against 63 us; 8 rows: 8 us against 11).
GATHER_COLUMNS = 8

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

    The state is one column per row: per layer (h, c), each [H, n] float32, and a step computes
    W @ [x; h] into gates [4H, n]. OpenBLAS multiplies a large weight matrix by a few columns
    1.5-2x faster than a few rows by the matrix (2 cores, 2026-12-05, [4H, 2H] = [1024, 512]:
    64 columns 357 us against 64 rows 531 us, 16 columns 117 us against 234), and each gate is
    a block of whole rows of the gates. The layers' h are blocks of one array [layers * H, n],
    so a layer's [x; h] (the layer below's new h, then its own) is a block of it too, not a
    copy (a `seed` model's step at 64 rows: 1,380 us with the copies, 1,300 without). The
    columns are the rows still being sampled, in row order (`order` [position] -> row, then the
    finished rows; `where` [row] -> position): a finished row is retired and its column
    dropped, so that a batch whose tunes have mostly ended steps only the few that go on.
    """

    def __init__(self, model: NumpyLSTM | LSTMModel) -> None:
        if not isinstance(model, NumpyLSTM):
            model = NumpyLSTM.from_model(model)
        weights = model.step_weights  # see StepWeights: the gates i, f, o are halved
        self.table, self.w_hh0 = weights.table, weights.w_hh0
        self.table_columns = weights.table_columns
        self.w_upper, self.b_upper = weights.w_upper, weights.b_upper
        self.head_w, self.head_b = weights.head_w, weights.head_b
        self.hidden = model.config.hidden_size
        self.state: list[tuple[np.ndarray, np.ndarray]] = []

    def reset(self, batch_size: int) -> None:
        layers = 1 + len(self.w_upper)
        self._stack(self._zeros(layers, batch_size), [self._zeros(1, batch_size) for _ in
                                                      range(layers)])  # fmt: skip
        self.batch = batch_size
        self.order = np.arange(batch_size)  # position -> row
        self.where = np.arange(batch_size)  # row -> position (>= live: retired)
        self.live = batch_size
        self._bind()

    def _zeros(self, blocks: int, columns: int) -> np.ndarray:
        return np.zeros((blocks * self.hidden, columns), dtype=np.float32)

    def _stack(self, hs: np.ndarray, cs: list[np.ndarray]) -> None:
        """Take `hs` [layers * H, n] (every layer's h) and each layer's c [H, n] as the state:
        `state` [layer] = (h, c), h a block of `hs` (the step and restore_rows write them in
        place), and `_layer_inputs` [layer] what it multiplies by its weights: h for the first
        layer (its input is a table), [x; h] for the others, a block of `hs` too."""
        size = self.hidden
        self._hs = hs
        self.state = [(hs[k * size : (k + 1) * size], c) for k, c in enumerate(cs)]
        self._layer_inputs = [hs[:size]] + [
            hs[(k - 1) * size : (k + 1) * size] for k in range(1, len(cs))
        ]

    def _bind(self) -> None:
        """Buffers for `live` columns and their views, made once per change of `live`: every
        array of a step is written in place with `out=` (a [1024, 64] float32 temporary is 256
        KB, which malloc maps and unmaps afresh each time: page faults at every step), and
        ready-made views save a call per slice at batch 1."""
        size, n = self.hidden, self.live
        self._gates = gates = self._zeros(4, n)  # i, f, g, o: blocks of rows
        self._sigmoids = sig = self._zeros(4, n)  # tanh(z / 2) * 0.5 + 0.5 (g's block unused)
        self._ig = self._zeros(1, n)  # i * g
        self._logits = np.zeros((len(self.table), n), dtype=np.float32)
        self._inputs = self._zeros(4, n) if n > GATHER_COLUMNS else None
        # the biases repeated for every column: a [4H, 1] bias broadcast over n columns is
        # summed by rows of n (1,024 short loops), a block by one loop
        self._b_upper = [np.repeat(b, n, axis=1) for b in self.b_upper]
        self._head_b = np.repeat(self.head_b, n, axis=1)
        self._views = (
            sig[:size],
            sig[size : 2 * size],
            sig[3 * size :],
            gates[2 * size : 3 * size],
        )
        # a few columns of a large layer: one matrix-vector product each (see ROWWISE_ROWS)
        rowwise = n <= ROWWISE_ROWS and size >= ROWWISE_HIDDEN
        self._columns = (
            [[(gates[:, b], x[:, b]) for b in range(n)] for x in self._layer_inputs]
            if rowwise
            else None
        )  # per layer, per column: (its gates, its input)

    def step(self, ids: np.ndarray) -> np.ndarray:
        """ids [B] -> logits [B, V]; advances the state (in place) and returns new logits.

        Each number is computed by the same float32 operations, in the same order, as the plain
        formulation `c = f * c + i * g; h = o * tanh(c)` with `sigmoid(z) = tanh(z / 2) / 2 + 1/2`
        (products and sums are commutative in IEEE arithmetic, so `a += b` is `b + a`): the
        logits are bit for bit the same, and so is every sampled symbol.
        """
        if self.live < self.batch:  # the rows still sampled, in position order
            ids = ids[self.order[: self.live]]
        gates, product, sigmoids = self._gates, self._ig, self._sigmoids
        input_gate, forget_gate, out_gate, g = self._views
        for layer, (h, c) in enumerate(self.state):
            if layer == 0:
                self._product(self.w_hh0, gates, layer)
                if self._inputs is None:  # the input's projection, folded into the table
                    gates += self.table[ids].T
                else:  # a gather of whole columns, then a contiguous sum: 3x faster at 64
                    gates += np.take(self.table_columns, ids, axis=1, out=self._inputs)
            else:  # [x; h]: the layer below's new h and this layer's, one block of the stack
                self._product(self.w_upper[layer - 1], gates, layer)
                gates += self._b_upper[layer - 1]
            np.tanh(gates, out=gates)  # i, f, o were halved: tanh(z / 2); g: tanh(g)
            np.multiply(gates, 0.5, out=sigmoids)  # the sigmoids of i, f and o
            sigmoids += 0.5
            c *= forget_gate  # f * c
            np.multiply(input_gate, g, out=product)  # i * g
            c += product
            np.tanh(c, out=h)
            h *= out_gate  # the new h is the next layer's input x
        logits = np.matmul(self.head_w, self.state[-1][0], out=self._logits)
        logits += self._head_b
        if self.live == self.batch:
            return np.ascontiguousarray(logits.T)  # [B, V], a new array: the caller's to mask
        out = np.zeros((self.batch, len(logits)), dtype=np.float32)  # retired rows: zeros
        out[self.order[: self.live]] = logits.T
        return out

    def _product(self, weights: np.ndarray, out: np.ndarray, layer: int) -> None:
        """out = weights @ the layer's input; for a few columns of a large layer, one product
        per column (see ROWWISE_ROWS), so that each row's state is bit for bit what it is when
        the row is stepped alone."""
        if self._columns is None:
            np.matmul(weights, self._layer_inputs[layer], out=out)
        else:
            for gates, column in self._columns[layer]:
                np.matmul(weights, column, out=gates)

    def save_rows(self, rows: np.ndarray, saved: SavedRows | None) -> SavedRows:
        """See Stepper.save_rows; the store is [row, H] per array, the state [H, position]."""
        if saved is None:  # every live row's state (a retired row's is never restored)
            shape = (self.batch, self.hidden)
            saved = [(np.zeros(shape, np.float32), np.zeros(shape, np.float32)) for _ in
                     self.state]  # fmt: skip
            rows = self.order[: self.live]
        rows = rows[self.where[rows] < self.live]  # a row retired at this step has no state
        positions = self.where[rows]
        for (h, c), (sh, sc) in zip(self.state, saved, strict=True):
            sh[rows] = h[:, positions].T
            sc[rows] = c[:, positions].T
        return saved

    def restore_rows(self, rows: np.ndarray, saved: SavedRows) -> None:
        rows = rows[self.where[rows] < self.live]
        positions = self.where[rows]
        for (h, c), (sh, sc) in zip(self.state, saved, strict=True):
            h[:, positions] = sh[rows].T
            c[:, positions] = sc[rows].T

    def retire(self, rows: np.ndarray) -> None:
        """Drop the columns of `rows` (the others keep their order), so that steps compute only
        the rows still sampled."""
        gone = np.zeros(self.batch, dtype=bool)
        gone[rows] = True
        live = self.order[: self.live]
        keep = ~gone[live]
        if keep.all():
            return
        positions = np.flatnonzero(keep)
        self._stack(np.take(self._hs, positions, 1), [np.take(c, positions, 1) for _, c in
                                                      self.state])  # fmt: skip
        self.order = np.concatenate((live[keep], live[~keep], self.order[self.live :]))
        self.where[self.order] = np.arange(self.batch)
        self.live = len(positions)
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
