"""Steppers that step a model in torch: any model on a GPU, and the Transformer (see
`tunegen.models.stepping` for the interface, and for the numpy LSTM that samples on a CPU)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tunegen.models.stepping import SavedRows, Stepper


class TorchStepper:
    """Steps a model with `initial_state(B)` and `step(ids, state)` in torch (GPU, other kinds).

    Per-row save/restore needs an LSTM-like state (per-layer (h, c) [B, H] tensors, a row copied
    in and out in place); a Transformer's memory steps back with GroupedStepper. Finished rows
    go on being computed with the others (`retire` does nothing).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.state = None

    def reset(self, batch_size: int) -> None:
        self.state = self.model.initial_state(batch_size)

    @torch.inference_mode()  # torch's inference tensors may only be written in inference mode
    def save_rows(self, rows: np.ndarray, saved: SavedRows | None) -> SavedRows:
        if saved is None:
            saved = [(h.clone(), c.clone()) for h, c in self.state]
        index = torch.from_numpy(rows)
        for (h, c), (sh, sc) in zip(self.state, saved, strict=True):
            sh[index] = h[index]
            sc[index] = c[index]
        return saved

    @torch.inference_mode()
    def restore_rows(self, rows: np.ndarray, saved: SavedRows) -> None:
        index = torch.from_numpy(rows)
        for layer, ((h, c), (sh, sc)) in enumerate(zip(self.state, saved, strict=True)):
            if h is c:  # the zero state shares one tensor for h and c
                h = h.clone()
            h[index] = sh[index]
            c[index] = sc[index]
            self.state[layer] = (h, c)

    def retire(self, rows: np.ndarray) -> None:
        pass

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


def torch_stepper(model: nn.Module, rewind: bool = False) -> Stepper:
    """A torch stepper for `model`; with `rewind`, a grouped one for Transformer memories."""
    if rewind and not lstm_like(model):
        return GroupedStepper(model)
    return TorchStepper(model)
