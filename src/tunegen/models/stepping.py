"""Steppers: a model advanced one symbol at a time for a batch of rows, each row able to step back.

The sampler sees only this interface (see `Stepper`): `reset(B)`, `step(ids) -> logits`, and
per-row `save_rows`/`restore_rows` so that one tune of a batch can return to an earlier state
while the others carry on. `make_stepper` picks the implementation for a model.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from tunegen.models.lstm import LSTMModel

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


class _PairStateRows:
    """save_rows/restore_rows for states that are per-layer (h, c) pairs of [B, H] arrays or
    tensors in `self.state`: a row is copied in and out in place."""

    state: list

    @torch.inference_mode()  # torch's inference tensors may only be written in inference mode
    def save_rows(self, rows: np.ndarray, saved: SavedRows | None) -> SavedRows:
        if saved is None:
            saved = [(_copy(h), _copy(c)) for h, c in self.state]
        index = _index(rows, saved[0][0])
        for (h, c), (sh, sc) in zip(self.state, saved, strict=True):
            sh[index] = h[index]
            sc[index] = c[index]
        return saved

    @torch.inference_mode()
    def restore_rows(self, rows: np.ndarray, saved: SavedRows) -> None:
        index = _index(rows, saved[0][0])
        for layer, ((h, c), (sh, sc)) in enumerate(zip(self.state, saved, strict=True)):
            if h is c:  # the zero state shares one array for h and c
                h = _copy(h)
            h[index] = sh[index]
            c[index] = sc[index]
            self.state[layer] = (h, c)


def _copy(x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    return x.copy() if isinstance(x, np.ndarray) else x.clone()


def _index(rows: np.ndarray, like: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    return rows if isinstance(like, np.ndarray) else torch.from_numpy(rows)


class NumpyLSTMStepper(_PairStateRows):
    """Steps an LSTMModel one symbol at a time with numpy float32 math.

    On CPU, torch's per-call overhead (~5 us an op) and this machine's MKL matrix-vector product
    (~80 us per 2 MB weight matrix vs ~26 us in numpy's OpenBLAS) dominate small-batch sampling.
    The first layer's input projection is folded into a [V, 4H] table: embedding @ W_ih + biases.
    `state` holds per layer (h, c), each [B, H] float32.
    """

    def __init__(self, model: LSTMModel) -> None:
        def array(t: torch.Tensor) -> np.ndarray:
            return t.detach().float().cpu().numpy()

        weights = [
            tuple(array(w) for w in model.layer_weights(i)) for i in range(model.config.num_layers)
        ]
        w_ih0, w_hh0, b_ih0, b_hh0 = weights[0]
        size = model.config.hidden_size
        # sigmoid(z) = tanh(z / 2) / 2 + 1/2: the i, f and o gates' weights and biases are halved
        # here, so one tanh serves all four gates. Halving is exact in floating point, so the
        # logits are bit for bit those of the unhalved products.
        half = np.full(4 * size, 0.5, dtype=np.float32)
        half[2 * size : 3 * size] = 1.0  # g keeps its tanh
        self.table = (array(model.embedding.weight) @ w_ih0.T + b_ih0 + b_hh0) * half  # [V, 4H]
        self.w_hh0 = np.ascontiguousarray(w_hh0.T * half)  # [H, 4H]
        # upper layers: one product of [x, h] with the stacked [W_ih; W_hh]
        self.w_upper = [
            np.ascontiguousarray(np.concatenate([w[0], w[1]], 1).T * half) for w in weights[1:]
        ]
        self.b_upper = [(w[2] + w[3]) * half for w in weights[1:]]
        self.head_w = np.ascontiguousarray(array(model.head.weight).T)  # [H or D, V]
        self.head_b = array(model.head.bias)
        if model.config.head_size:  # fold the linear Dense [H, D] into the output: [H, V]
            dense_w, dense_b = array(model.dense.weight).T, array(model.dense.bias)
            self.head_w, self.head_b = dense_w @ self.head_w, dense_b @ self.head_w + self.head_b
        self.hidden = model.config.hidden_size
        self.state: list[tuple[np.ndarray, np.ndarray]] = []

    def reset(self, batch_size: int) -> None:
        # Every array of a step is allocated here once and written in place with `out=`: a
        # [64, 1024] float32 temporary is 256 KB, which malloc maps and unmaps afresh each time,
        # so the page faults of fresh temporaries cost about as much as the arithmetic.
        size, layers = self.hidden, 1 + len(self.w_upper)

        def zeros(width: int) -> np.ndarray:
            return np.zeros((batch_size, width), dtype=np.float32)

        # h and c are separate arrays (restore_rows and the step write them in place)
        self.state = [(zeros(size), zeros(size)) for _ in range(layers)]
        self._gates = [zeros(4 * size) for _ in range(layers)]  # [B, 4H]: i, f, g, o
        self._inputs = [zeros(2 * size) for _ in range(layers - 1)]  # [B, 2H]: [x, h] above
        self._product = zeros(size)  # i * g

    def step(self, ids: np.ndarray) -> np.ndarray:
        """ids [B] -> logits [B, V]; advances the state (in place) and returns new logits.

        Each number is computed by the same float32 operations, in the same order, as the plain
        formulation `c = f * c + i * g; h = o * tanh(c)` with `sigmoid(z) = tanh(z / 2) / 2 + 1/2`
        (products and sums are commutative in IEEE arithmetic, so `a += b` is `b + a`): the
        logits are bit for bit the same, and so is every sampled symbol.
        """
        size = self.hidden
        x = None
        product = self._product
        for layer, (h, c) in enumerate(self.state):
            gates = self._gates[layer]
            if layer == 0:
                np.matmul(h, self.w_hh0, out=gates)
                gates += self.table[ids]  # the input's projection, folded into the table
            else:
                xh = self._inputs[layer - 1]
                np.concatenate((x, h), axis=1, out=xh)  # [B, 2H]
                np.matmul(xh, self.w_upper[layer - 1], out=gates)
                gates += self.b_upper[layer - 1]
            np.tanh(gates, out=gates)  # i, f, o were halved: tanh(z / 2); g: tanh(g)
            sigmoids = gates[:, : 2 * size]  # i and f: tanh(z / 2) * 0.5 + 0.5
            sigmoids *= 0.5
            sigmoids += 0.5
            out_gate = gates[:, 3 * size :]
            out_gate *= 0.5
            out_gate += 0.5
            c *= gates[:, size : 2 * size]  # f * c
            np.multiply(gates[:, :size], gates[:, 2 * size : 3 * size], out=product)  # i * g
            c += product
            np.tanh(c, out=h)
            h *= out_gate  # the new h is this layer's output x
            x = h
        logits = x @ self.head_w
        logits += self.head_b
        return logits


class TorchStepper(_PairStateRows):
    """Steps a model with `initial_state(B)` and `step(ids, state)` in torch (GPU, other kinds).

    Per-row save/restore needs an LSTM-like state (per-layer (h, c) [B, H] pairs); a
    Transformer's memory steps back with GroupedStepper.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.state = None

    def reset(self, batch_size: int) -> None:
        self.state = self.model.initial_state(batch_size)

    @torch.inference_mode()
    def step(self, ids: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(ids).to(self.device)
        logits, self.state = self.model.step(tensor, self.state)
        return logits.float().cpu().numpy()


class GroupedStepper(TorchStepper):
    """A Transformer stepper whose rows may hold memories of different lengths.

    A Transformer's memory is [B, heads, L, d] per layer with one L for the whole batch, so a row
    restored to an earlier, shorter memory steps in a group of its own: rows with equal memory
    length step together as one batch (one model call per group); groups merge again once their
    lengths meet, at the latest when memories reach their sliding limit.
    """

    def reset(self, batch_size: int) -> None:
        self.batch = batch_size
        self.groups: list[tuple[np.ndarray, list | None]] = [(np.arange(batch_size), None)]

    @torch.inference_mode()
    def step(self, ids: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(ids).to(self.device)
        out: np.ndarray | None = None
        stepped = []
        for rows, memory in self.groups:
            logits, memory = self.model.step(tensor[torch.from_numpy(rows)], memory)
            logits = logits.float().cpu().numpy()
            if out is None:
                out = np.empty((self.batch, logits.shape[1]), dtype=np.float32)
            out[rows] = logits
            stepped.append((rows, memory))
        self.groups = _merge(stepped)
        return out

    def save_rows(self, rows: np.ndarray, saved: SavedRows | None) -> SavedRows:
        """Each row's memory now, by row (views: memories are never written in place)."""
        saved = {} if saved is None else saved
        for group_rows, memory in self.groups:
            for position in np.flatnonzero(np.isin(group_rows, rows)):
                row = int(group_rows[position])
                saved[row] = (
                    None
                    if memory is None
                    else [
                        (k[position : position + 1], v[position : position + 1]) for k, v in memory
                    ]
                )
        return saved

    def restore_rows(self, rows: np.ndarray, saved: SavedRows) -> None:
        """Give `rows` the memories in `saved`, each stepping in the group of its length."""
        keep = []
        for group_rows, memory in self.groups:
            stay = ~np.isin(group_rows, rows)
            if stay.all():
                keep.append((group_rows, memory))
            elif stay.any():
                index = torch.from_numpy(np.flatnonzero(stay))
                kept = None if memory is None else [(k[index], v[index]) for k, v in memory]
                keep.append((group_rows[stay], kept))
        keep.extend((np.array([row]), saved[int(row)]) for row in rows)
        self.groups = _merge(keep)


def _length(memory: list | None) -> int:
    return 0 if memory is None else memory[0][0].shape[2]


def _merge(groups: list[tuple[np.ndarray, list | None]]) -> list[tuple[np.ndarray, list | None]]:
    """Groups of rows with equal memory length joined into one batch each."""
    by_length: dict[int, list[tuple[np.ndarray, list | None]]] = {}
    for group in groups:
        by_length.setdefault(_length(group[1]), []).append(group)
    merged = []
    for same in by_length.values():
        if len(same) == 1:
            merged.append(same[0])
            continue
        rows = np.concatenate([rows for rows, _ in same])
        if same[0][1] is None:
            merged.append((rows, None))
            continue
        layers = len(same[0][1])
        memory = [
            (
                torch.cat([m[layer][0] for _, m in same]),
                torch.cat([m[layer][1] for _, m in same]),
            )
            for layer in range(layers)
        ]
        merged.append((rows, memory))
    return merged


def lstm_like(model: nn.Module) -> bool:
    """Whether the model's state is a list of per-layer (h, c) [B, H] pairs."""
    state = model.initial_state(1)
    return isinstance(state, list) and bool(state) and state[0][0].dim() == 2


def make_stepper(model: nn.Module, rewind: bool = False) -> Stepper:
    """The fastest stepper for `model`: numpy for LSTMs on the CPU, torch otherwise; with
    `rewind` (rows will be restored to saved states), a grouped one for Transformer memories."""
    on_cpu = next(model.parameters()).device.type == "cpu"
    if isinstance(model, LSTMModel) and on_cpu:
        return NumpyLSTMStepper(model)
    if rewind and not lstm_like(model):
        return GroupedStepper(model)
    return TorchStepper(model)
