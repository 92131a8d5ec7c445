"""The LightningDataModule: split texts encoded once into .npy files, and their batches."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from tunegen.data.batches import (
    ResumableLoader,
    StatefulBatches,
    Texts,
    TuneBatches,
    WindowBatches,
    encode_texts,
    load_encoded,
)
from tunegen.data.vocab import Vocabulary
from tunegen.training.config import TrainConfig


class SymbolDataModule(pl.LightningDataModule):
    """Train/validation texts encoded once into memory-mapped .npy files, and their batches.

    Each item of a loader is already a whole [B, T] batch for this rank (batch_size=None), so the
    Trainer must not add a DistributedSampler (use_distributed_sampler=False).
    """

    def __init__(
        self,
        texts: dict[str, Texts],
        vocab: Vocabulary,
        train: TrainConfig,
        run_dir: Path,
        batches_done=lambda: 0,
    ) -> None:
        super().__init__()
        self.texts, self.vocab, self.config = texts, vocab, train
        self.batches_done = batches_done  # the module's count, saved as the loader's position
        self.paths = {split: run_dir / f"corpus-{split}.npy" for split in texts}
        self.batches: dict[str, Dataset] = {}

    def prepare_data(self) -> None:
        # Lightning calls this on local rank 0 of each node and holds the other ranks meanwhile
        for split, path in self.paths.items():
            encode_texts(self.texts[split], self.vocab, path)

    def setup(self, stage: str) -> None:
        trainer = self.trainer  # None when the module is used on its own
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        c = self.config
        train_ids, val_ids = load_encoded(self.paths["train"]), load_encoded(self.paths["val"])
        if c.mode == "stateful":
            train = StatefulBatches(train_ids, c.batch_size, c.seq_len, rank, world)
        elif c.mode == "tunes":
            originals = getattr(self.texts["train"], "originals", None)
            train = TuneBatches(
                train_ids, c.batch_size, c.seq_len, c.seed, rank, world, originals,
                key_field_ids(self.vocab),
            )  # fmt: skip
        else:
            train = WindowBatches(train_ids, c.batch_size, c.seq_len, c.seed, rank, world)
        self.batches = {"train": train}
        for split in ("val", "val_clean"):
            if split in self.paths and (split == "val" or len(self.texts[split])):
                ids = val_ids if split == "val" else load_encoded(self.paths[split])
                streams = max(1, min(c.batch_size, (len(ids) - 1) // (world * (c.seq_len + 1))))
                if c.mode == "tunes":  # each held-out tune from a fresh state, as it trained
                    self.batches[split] = TuneBatches(ids, streams, c.seq_len, c.seed, rank, world)
                else:
                    self.batches[split] = StatefulBatches(ids, streams, c.seq_len, rank, world)

    def train_dataloader(self) -> DataLoader:
        return ResumableLoader(self.batches["train"], self.batches_done)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        # each its own generator: making the iterator must not draw from torch's global RNG
        loaders = [
            DataLoader(self.batches[split], batch_size=None, generator=torch.Generator())
            for split in ("val", "val_clean")
            if split in self.batches
        ]
        return loaders if len(loaders) > 1 else loaders[0]


def key_field_ids(vocab: Vocabulary) -> tuple[int, int, int] | None:
    """The ids of newline, "K" and ":" (how a K: line starts), if each is a symbol of `vocab`."""
    ids = tuple(vocab.index.get(symbol) for symbol in ("\n", "K", ":"))
    return None if None in ids else ids  # type: ignore[return-value]
