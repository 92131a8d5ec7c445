"""Per-row snapshots of a sampler's model state, so that one tune of a batch can step back alone."""

from __future__ import annotations

import numpy as np
import torch

from tunegen.sampling.sampler import NumpyLSTMStepper, TorchStepper


class RowStates:
    """Saves and restores the model state of chosen rows of a batch (a row = one tune).

    LSTM states (numpy or torch) are [B, H] arrays per layer: a row is copied in and out in
    place. A Transformer's memory is [B, heads, L, d] per layer with one L for the whole batch, so
    a row restored to an earlier, shorter memory steps in a group of its own (see GroupedStepper).
    """

    def __init__(self, stepper: NumpyLSTMStepper | TorchStepper, batch: int) -> None:
        self.stepper, self.batch = stepper, batch
        self.saved: list[tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]] = []
        self.memories: dict[int, list | None] = {}  # Transformer rows: their saved memory

    def _ensure(self) -> None:
        if not self.saved:
            state = self.stepper.state
            if isinstance(state[0][0], np.ndarray):
                self.saved = [(h.copy(), c.copy()) for h, c in state]
            else:
                self.saved = [(h.clone(), c.clone()) for h, c in state]

    @torch.inference_mode()  # torch's inference tensors may only be written in inference mode
    def save(self, rows: np.ndarray) -> None:
        """Remember the current state of `rows` (an index array)."""
        if isinstance(self.stepper, GroupedStepper):
            self.memories.update(self.stepper.snapshot(rows))
            return
        self._ensure()
        index = rows if isinstance(self.saved[0][0], np.ndarray) else torch.from_numpy(rows)
        for (h, c), (sh, sc) in zip(self.stepper.state, self.saved, strict=True):
            sh[index] = h[index]
            sc[index] = c[index]

    @torch.inference_mode()
    def restore(self, rows: np.ndarray) -> None:
        """Put `rows` back into the state last saved for them."""
        if isinstance(self.stepper, GroupedStepper):
            self.stepper.restore(rows, self.memories)
            return
        index = rows if isinstance(self.saved[0][0], np.ndarray) else torch.from_numpy(rows)
        state = self.stepper.state
        for layer, ((h, c), (sh, sc)) in enumerate(zip(state, self.saved, strict=True)):
            if h is c:  # the zero state shares one array for h and c
                h, c = h.copy() if isinstance(h, np.ndarray) else h.clone(), c
            h[index] = sh[index]
            c[index] = sc[index]
            state[layer] = (h, c)


class GroupedStepper(TorchStepper):
    """A Transformer stepper whose rows may hold memories of different lengths.

    Rows with equal memory length step together as one batch (one model call per group); groups
    merge again once their lengths meet, at the latest when memories reach their sliding limit.
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

    def snapshot(self, rows: np.ndarray) -> dict[int, list | None]:
        """Each row's memory now (views: memories are never written in place)."""
        saved: dict[int, list | None] = {}
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

    def restore(self, rows: np.ndarray, saved: dict[int, list | None]) -> None:
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
