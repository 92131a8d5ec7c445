"""Corpora -> id arrays -> batches: stateful streams (truncated BPTT) or random windows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from tunegen.music.abc import Tune
from tunegen.vocab import Vocabulary


def encode_tunes(tunes: Sequence[Tune], vocab: Vocabulary) -> np.ndarray:
    """One id array: <eot> tune <eot> tune ... <eot>, so every tune starts after a marker."""
    parts = [np.zeros(1, dtype=np.int64)]
    for tune in tunes:
        parts.append(vocab.encode(tune.text))
        parts.append(np.zeros(1, dtype=np.int64))
    return np.concatenate(parts)


class StatefulBatches(Dataset):
    """The seed's batching: B parallel streams of consecutive chunks.

    The id array is cut into B equal streams; batch t holds chunk t of every stream, so row b of
    batch t+1 continues exactly where row b of batch t ended and the model may carry its hidden
    state across batches (detached: truncated back-propagation through time).
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int) -> None:
        self.stream_len = (len(ids) - 1) // batch_size
        self.steps = (self.stream_len - 1) // seq_len + 1 if self.stream_len > 1 else 0
        if self.steps < 1:
            raise ValueError(
                f"{len(ids)} symbols are too few for {batch_size} streams of {seq_len} symbols"
            )
        self.batch_size, self.seq_len = batch_size, seq_len
        # streams[b] = ids[b*L : b*L + L + 1]: the extra symbol is the last target.
        starts = np.arange(batch_size)[:, None] * self.stream_len
        self.streams = torch.from_numpy(ids[starts + np.arange(self.stream_len + 1)[None, :]])

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= step < self.steps:
            raise IndexError(step)
        start = step * self.seq_len
        end = min(start + self.seq_len, self.stream_len)
        chunk = self.streams[:, start : end + 1]  # [B, T+1]
        return chunk[:, :-1], chunk[:, 1:]


class WindowBatches(Dataset):
    """The MIT lab's batching: random windows with fresh state, one epoch ~ one pass of symbols.

    Windows depend only on (seed, epoch, step), so a resumed run sees the same batches.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, seed: int) -> None:
        if len(ids) < seq_len + 2:
            raise ValueError(f"{len(ids)} symbols are too few for windows of {seq_len}")
        self.ids = torch.from_numpy(ids)
        self.batch_size, self.seq_len, self.seed = batch_size, seq_len, seed
        self.steps = max(1, (len(ids) - 1) // (batch_size * seq_len))
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= step < self.steps:
            raise IndexError(step)
        rng = np.random.default_rng((self.seed, self.epoch, step))
        starts = rng.integers(0, len(self.ids) - self.seq_len - 1, size=self.batch_size)
        index = torch.from_numpy(starts)[:, None] + torch.arange(self.seq_len + 1)[None, :]
        chunk = self.ids[index]  # [B, T+1]
        return chunk[:, :-1], chunk[:, 1:]
