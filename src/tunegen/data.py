"""Corpora -> id arrays (in memory or memory-mapped .npy) -> stateful streams or random windows."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tunegen.music.abc import Tune
from tunegen.vocab import Vocabulary


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id: one byte per symbol for ABC's ~90."""
    if vocab_size <= 2**8:
        return np.dtype(np.uint8)
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.int32)


def _encoded_parts(tunes: Sequence[Tune], vocab: Vocabulary) -> Iterator[np.ndarray]:
    """<eot> tune <eot> tune ... <eot>, one piece at a time, so every tune starts after a marker."""
    marker = np.zeros(1, dtype=id_dtype(len(vocab)))
    yield marker
    for tune in tunes:
        yield vocab.encode(tune.text)
        yield marker


def encoded_length(tunes: Sequence[Tune], vocab: Vocabulary | None = None) -> int:
    """Symbols in encode_tunes' output, the markers included; without `vocab`, characters."""
    return 1 + sum((vocab.length(t.text) if vocab else len(t.text)) + 1 for t in tunes)


def split_sizes(splits: dict[str, Sequence[Tune]], vocab: Vocabulary) -> dict[str, int]:
    """`<split>_tunes`, `<split>_chars` and `<split>_symbols` for the checkpoint's corpus entry."""
    sizes = {}
    for split, tunes in splits.items():
        sizes[f"{split}_tunes"] = len(tunes)
        sizes[f"{split}_chars"] = encoded_length(tunes)
        sizes[f"{split}_symbols"] = encoded_length(tunes, vocab)
    return sizes


def encode_tunes(tunes: Sequence[Tune], vocab: Vocabulary, path: Path | None = None) -> np.ndarray:
    """One id array: <eot> tune <eot> tune ... <eot>.

    Without `path` the array is built in memory. With `path` the tunes are encoded one by one into
    a .npy file (written under a temporary name, then renamed, so readers never see half a file)
    and the file is returned memory-mapped read-only: a corpus larger than RAM never sits in memory
    as ids.
    """
    dtype = id_dtype(len(vocab))
    if path is None:
        return np.concatenate([part.astype(dtype) for part in _encoded_parts(tunes, vocab)])
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique temporary name: every node's local rank 0 may write the same shared file
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    out = np.lib.format.open_memmap(partial, "w+", dtype, (encoded_length(tunes, vocab),))
    at = 0
    for part in _encoded_parts(tunes, vocab):
        out[at : at + len(part)] = part
        at += len(part)
    out.flush()
    del out
    os.replace(partial, path)
    return load_encoded(path)


def load_encoded(path: Path) -> np.ndarray:
    """An encoded corpus .npy, memory-mapped read-only: pages are read as batches touch them."""
    return np.load(path, mmap_mode="r")


def _batch(ids: np.ndarray, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets [B, T] from index [B, T+1]; only this batch is copied out of `ids`."""
    chunk = torch.from_numpy(ids[index].astype(np.int64))
    return chunk[:, :-1], chunk[:, 1:]


class StatefulBatches(Dataset):
    """The seed's batching: B parallel streams of consecutive chunks, per rank of a DDP run.

    The id array is cut into B * world_size equal streams; rank r takes streams r, r + W, r + 2W,
    ..., so ranks never share a stream and together cover the same layout as one process with
    batch B * W. Batch t holds chunk t of every stream of this rank, so row b of batch t+1 continues
    exactly where row b of batch t ended and the model may carry its hidden state across batches
    (detached: truncated back-propagation through time). Every rank has the same number of steps.
    """

    def __init__(
        self, ids: np.ndarray, batch_size: int, seq_len: int, rank: int = 0, world_size: int = 1
    ) -> None:
        streams = batch_size * world_size
        self.stream_len = (len(ids) - 1) // streams
        self.steps = (self.stream_len - 1) // seq_len + 1 if self.stream_len > 1 else 0
        if self.steps < 1:
            raise ValueError(f"{len(ids)} symbols are too few for {streams} streams of {seq_len}")
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        # stream b of this rank is ids[starts[b] : starts[b] + L + 1]; the extra symbol is the
        # last target
        self.starts = (np.arange(batch_size) * world_size + rank) * self.stream_len

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= step < self.steps:
            raise IndexError(step)
        start = step * self.seq_len
        end = min(start + self.seq_len, self.stream_len)
        return _batch(self.ids, self.starts[:, None] + np.arange(start, end + 1)[None, :])


class WindowBatches(Dataset):
    """The MIT lab's batching: random windows with fresh state, one epoch ~ one pass of symbols.

    Windows depend only on (seed, epoch, step, rank), so a resumed run sees the same batches. Under
    DDP each rank draws its own windows and an epoch has 1 / world_size of the steps: for windows
    drawn at random, that is what a DistributedSampler over window indices would do.
    """

    def __init__(
        self,
        ids: np.ndarray,
        batch_size: int,
        seq_len: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(ids) < seq_len + 2:
            raise ValueError(f"{len(ids)} symbols are too few for windows of {seq_len}")
        self.ids, self.batch_size, self.seq_len = ids, batch_size, seq_len
        self.seed, self.rank = seed, rank
        self.steps = max(1, (len(ids) - 1) // (batch_size * seq_len * world_size))
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= step < self.steps:
            raise IndexError(step)
        rng = np.random.default_rng((self.seed, self.epoch, step, self.rank))
        starts = rng.integers(0, len(self.ids) - self.seq_len - 1, size=self.batch_size)
        return _batch(self.ids, starts[:, None] + np.arange(self.seq_len + 1)[None, :])
