"""Training with Lightning: the LightningModule, data module, callbacks and Trainer setup."""

from __future__ import annotations

import contextlib
import csv
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from itertools import chain
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from tunegen.data.batches import (
    ResumableLoader,
    StatefulBatches,
    Texts,
    WindowBatches,
    check_batches_fit,
    digest_changes,
    encode_texts,
    file_digests,
    load_encoded,
    split_counts,
    write_splits,
)
from tunegen.data.midi_corpus import resolve_midi_files
from tunegen.data.midi_data import prepare_midi_corpus
from tunegen.data.vocab import TOKENIZERS, Vocabulary
from tunegen.errors import CorpusError, TunegenError, UsageError
from tunegen.models import build_model, check_model_config, preset
from tunegen.models.checkpoint import (
    FORMAT_VERSION,
    completed_epochs,
    read_checkpoint_file,
    write_checkpoint,
)
from tunegen.music.abc import ReadReport, corpus_description, iter_corpus, resolve_abc_files
from tunegen.music.abc_clean import TuneCleaner
from tunegen.music.midi import EventCodec
from tunegen.music.transpose import KeyAugmenter, TargetKey, parse_target_keys
from tunegen.runtime.fileio import ensure_folder, refuse_overwrite, write_atomically
from tunegen.training.finetune import META_CARRIED, InitialModel, start_from

LOG_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_bpc",
    "val_clean_bpc",  # held-out tunes cleaned (abc_clean); val_bpc scores them as they are
    "chars_per_s",
    "lr",
)
ACCELERATORS = ("auto", "cpu", "gpu")
# Documented bounds (README, "Limits"): a batch of 2^16 streams of 2^16 symbols is already far
# beyond one machine; epochs and seeds are bounded so Lightning and numpy accept them.
INT_LIMITS = {
    "batch_size": 2**16,
    "seq_len": 2**16,
    "epochs": 10**6,
    "checkpoint_every": 10**6,
    "seed": 2**32 - 1,
}
MAX_PROCESSES = 1024  # --devices per node and --num-nodes
MAX_BATCH_SYMBOLS = 2**22  # batch x seq_len per step: 4 M symbols (64 x 128 is 8,192)
PRECISIONS = ("32", "32-true", "bf16-mixed", "16-mixed")


@dataclass(frozen=True)
class TrainConfig:
    """How to train; presets fill in the batching and learning rate of their write-up."""

    preset: str = "default"
    tokenizer: str = "chars"  # chars, abc (folk-rnn-style tokens) or words (see vocab.py)
    mode: str = "stateful"  # "stateful" streams (truncated BPTT) or random "windows"
    batch_size: int = 64
    seq_len: int = 128
    lr: float = 5e-3
    grad_clip: float = 1.0
    epochs: int = 20
    max_minutes: float | None = None
    val_fraction: float = 0.05
    checkpoint_every: int = 10
    seed: int = 0
    corpus: tuple[str, ...] = ("oneills1850",)
    keep_metadata: bool = False
    keep_unclean: bool = False  # ABC: train on the tunes as they are, not cleaned (abc_clean.py)
    corpus_kind: str = "abc"  # abc, or midi: event words of MIDI pieces (music/midi.py)
    codec: str = "events"  # MIDI only: events or seed003 (see EventCodec)
    grid: int = 4  # MIDI only: steps per quarter note
    parts: str = "melody"  # MIDI only: melody, all or a part name
    transpose_all: bool = False  # the training tunes (ABC) or pieces (MIDI) in all 12 keys
    transpose: tuple[str, ...] = ()  # ABC only: the training tunes also in these keys (D, Bm...)
    accelerator: str = "cpu"
    devices: int | str = 1  # per node; "auto" lets Lightning count them
    num_nodes: int = 1
    precision: str = "32-true"

    def validate(self) -> None:
        if self.tokenizer not in TOKENIZERS:
            raise UsageError(f"--tokenizer must be one of {', '.join(TOKENIZERS)}")
        if self.mode not in ("stateful", "windows"):
            raise UsageError(f"--mode must be stateful or windows, got {self.mode!r}")
        for name, high in INT_LIMITS.items():
            value, low = getattr(self, name), 0 if name == "seed" else 1
            if type(value) is not int or not low <= value <= high:
                option = f"--{name.replace('_', '-')}"
                raise UsageError(f"{option} must be a whole number in [{low}, {high}], got {value}")
        if self.batch_size * self.seq_len > MAX_BATCH_SYMBOLS:
            raise UsageError(
                f"--batch-size x --seq-len must be at most {MAX_BATCH_SYMBOLS:,} symbols, "
                f"got {self.batch_size} x {self.seq_len}"
            )
        # `not x > 0` also refuses NaN, which compares false with everything
        if not 0 < self.lr < 1e3:
            raise UsageError(f"--lr must be > 0 and < 1000, got {self.lr}")
        if not 0 <= self.grad_clip < math.inf:
            raise UsageError(f"--grad-clip must be >= 0 and finite, got {self.grad_clip}")
        if self.max_minutes is not None and not 0 < self.max_minutes < math.inf:
            raise UsageError(f"--max-minutes must be > 0 and finite, got {self.max_minutes}")
        # past one half the model learns from fewer tunes than it is scored on
        if not 0 < self.val_fraction <= 0.5:
            raise UsageError(f"--val-fraction must be in (0, 0.5], got {self.val_fraction}")
        self._validate_devices()
        if self.transpose:
            self.target_keys  # noqa: B018 -- raises UsageError for a key it cannot read
            if self.transpose_all:
                raise UsageError("--transpose and --transpose-all: choose one")
            if self.corpus_kind == "midi":
                raise UsageError("--transpose KEYS is for ABC corpora (MIDI: --transpose-all)")
        if self.corpus_kind == "midi":
            if self.keep_unclean:
                raise UsageError("--keep-unclean is for ABC corpora")
            self.midi_codec.validate()
            if self.tokenizer != "words":
                raise UsageError("MIDI is learnt as words: leave out --tokenizer with --midi")

    @property
    def target_keys(self) -> tuple[TargetKey, ...]:
        """The keys of --transpose; UsageError naming the first key it cannot read."""
        try:
            return parse_target_keys(",".join(self.transpose))
        except ValueError as err:
            raise UsageError(f"--transpose: {err}") from None

    @property
    def midi_codec(self) -> EventCodec:
        """The codec that turns this run's MIDI pieces into words."""
        return EventCodec(self.codec, self.grid, self.parts)

    def _validate_devices(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise UsageError(f"--accelerator must be one of {', '.join(ACCELERATORS)}")
        if self.devices != "auto" and not (
            isinstance(self.devices, int) and 1 <= self.devices <= MAX_PROCESSES
        ):
            raise UsageError(
                f"--devices must be a number in [1, {MAX_PROCESSES}] or auto, got {self.devices!r}"
            )
        if not 1 <= self.num_nodes <= MAX_PROCESSES:
            raise UsageError(f"--num-nodes must be in [1, {MAX_PROCESSES}], got {self.num_nodes}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}")

    @property
    def distributed(self) -> bool:
        """More than one process: Lightning's DDP, one process per device."""
        return self.num_nodes > 1 or (isinstance(self.devices, int) and self.devices > 1)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["corpus"] = list(self.corpus)
        data["transpose"] = list(self.transpose)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The config saved by to_dict (in every checkpoint); UsageError for unknown fields."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise UsageError(f"unknown training settings {', '.join(unknown)}")
        values = {**data}
        for name in ("corpus", "transpose"):  # tuples, saved as JSON lists
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


def resolve_configs(
    preset_name: str, model_overrides: dict, train_overrides: dict
) -> tuple[dict, TrainConfig]:
    """Model config dict and TrainConfig: preset values, then the user's explicit options."""
    chosen = preset(preset_name)
    model_config = {**chosen["model"], **model_overrides}
    check_model_config(model_config)
    train = replace(TrainConfig(preset=preset_name, **chosen["training"]), **train_overrides)
    train.validate()
    return model_config, train


class CharLanguageModel(pl.LightningModule):
    """Lightning wrapper holding only the training logic around a pure nn.Module."""

    def __init__(self, model_config: dict, train: TrainConfig, vocab: Vocabulary, corpus: dict):
        super().__init__()
        self.model = build_model({**model_config, "vocab_size": len(vocab)})
        self.model_config = self.model.config.to_dict()
        self.train_config = train
        self.vocab = vocab
        self.corpus_info = corpus
        self.best_val_bpc = math.inf
        self._state: dict[str, list | None] = {"train": None}
        # per validation split (val, and val_clean when the text is cleaned): nll, correct,
        # count; plain numbers keep checkpoints safe
        self.val_splits = [split for split in ("val", "val_clean") if corpus.get(f"{split}_tunes")]
        self._val_sums = {split: [0.0, 0, 0] for split in self.val_splits}
        # losses are per symbol; bits per character and chars/s need characters per symbol
        self.chars_per_symbol = {
            split: corpus[f"{split}_chars"] / corpus[f"{split}_symbols"]
            if vocab.counts_characters
            else 1.0
            for split in ("train", *self.val_splits)
        }
        self._epoch_chars = 0.0
        self._epoch_started = 0.0
        self._epoch_busy = 0.0
        self.chars_per_s = 0.0
        # where training stands, for exact resumes: whole epochs done, batches of this epoch the
        # optimizer has stepped on, and the stream state after the last of them
        self.epochs_done = 0
        self.batches_done = 0
        self._carry = None
        # metadata that outlives a run, e.g. what it was fine-tuned from (finetune.META_CARRIED)
        self.extra_meta: dict = {}

    def _shared_step(self, batch, batch_idx: int, stage: str):
        x, y = batch  # [B, T] each
        state = None
        if stage != "train" or self.train_config.mode == "stateful":
            state = None if batch_idx == 0 else self._state[stage]
        logits, new_state = self.model(x, state)
        self._state[stage] = [(h.detach(), c.detach()) for h, c in new_state]
        flat = logits.reshape(-1, logits.shape[-1]).float()
        loss = F.cross_entropy(flat, y.reshape(-1))
        correct = (flat.argmax(-1) == y.reshape(-1)).sum()
        return loss, correct, y.numel()

    def training_step(self, batch, batch_idx: int):
        loss, correct, count = self._shared_step(batch, batch_idx, "train")
        # sync_dist: under DDP the logged loss is the mean over every rank's streams
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        self.log("acc", correct / count, on_step=False, on_epoch=True, sync_dist=True)
        # every rank steps the same shape
        self._epoch_chars += count * self.trainer.world_size * self.chars_per_symbol["train"]
        return loss

    def validation_step(self, batch, batch_idx: int, dataloader_idx: int = 0):
        split = self.val_splits[dataloader_idx]
        loss, correct, count = self._shared_step(batch, batch_idx, split)
        nll, right, total = self._val_sums[split]
        self._val_sums[split] = [nll + loss.item() * count, right + int(correct), total + count]

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        # counted only once the weights moved: a Ctrl-C in mid-step resumes at this same batch
        self.batches_done, self._carry = batch_idx + 1, self._state["train"]

    def on_train_epoch_end(self) -> None:
        self.epochs_done += 1
        self.batches_done, self._carry = 0, None

    def on_train_start(self) -> None:
        rank_zero_info(describe_batch(self.train_config, self.trainer.world_size))
        if self._carry is not None:  # resumed in mid-epoch: streams go on from where they were
            self._state["train"] = [(h.to(self.device), c.to(self.device)) for h, c in self._carry]

    def on_train_epoch_start(self) -> None:
        self._epoch_chars, self._epoch_started = 0.0, time.perf_counter()
        train_batches = self.trainer.train_dataloader.dataset
        if isinstance(train_batches, WindowBatches):
            train_batches.epoch = self.current_epoch

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self._epoch_busy = time.perf_counter() - self._epoch_started
        self.chars_per_s = self._epoch_chars / max(self._epoch_busy, 1e-9)

    def on_validation_epoch_start(self) -> None:
        self._val_sums = {split: [0.0, 0, 0] for split in self.val_splits}

    def on_validation_epoch_end(self) -> None:
        for split in self.val_splits:
            if self.trainer.world_size > 1:  # each rank saw its own streams: sum them
                sums = torch.tensor(self._val_sums[split], dtype=torch.float64, device=self.device)
                reduced = self.trainer.strategy.reduce(sums, reduce_op="sum").tolist()
                self._val_sums[split] = reduced
        nll, correct, count = self._val_sums["val"]
        val_loss = nll / max(count, 1)
        bpc = val_loss / self.chars_per_symbol["val"] / math.log(2)
        # the values are equal on every rank; sync_dist only says so to Lightning
        metrics = {"val_loss": val_loss, "val_acc": correct / max(count, 1), "val_bpc": bpc}
        if "val_clean" in self._val_sums:
            nll, _, count = self._val_sums["val_clean"]
            clean = nll / max(count, 1) / self.chars_per_symbol["val_clean"] / math.log(2)
            metrics["val_clean_bpc"] = clean
        self.log_dict(metrics, sync_dist=True, add_dataloader_idx=False)
        self.log("val_bpc_shown", bpc, prog_bar=True, logger=False, sync_dist=True)
        if not self.trainer.sanity_checking:
            self.best_val_bpc = min(self.best_val_bpc, bpc)

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.train_config.lr)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        steps = self.trainer.num_training_batches
        mid_epoch = 0 < self.batches_done < steps
        carry = None
        if mid_epoch and self._carry is not None:
            carry = [(h.cpu(), c.cpu()) for h, c in self._carry]
        checkpoint["tunegen"] = {
            "format_version": FORMAT_VERSION,
            "model": self.model_config,
            "vocab": self.vocab.to_dict(),
            "training": self.train_config.to_dict(),
            "corpus": self.corpus_info,
            "best_val_bpc": self.best_val_bpc,
            "rng": torch.get_rng_state(),
            # an epoch-end checkpoint is written after its last batch, before on_train_epoch_end
            "epochs_completed": self.epochs_done + int(self.batches_done >= steps),
            "batches_done": self.batches_done if mid_epoch else 0,
            "carry": carry,
            **self.extra_meta,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        meta = checkpoint["tunegen"]
        self.extra_meta = {key: meta[key] for key in META_CARRIED if key in meta}
        self.best_val_bpc = meta["best_val_bpc"]
        torch.set_rng_state(meta["rng"])
        self.epochs_done = completed_epochs(checkpoint)
        self.batches_done = meta.get("batches_done", 0)
        self._carry = meta.get("carry")


def describe_batch(config: TrainConfig, world_size: int) -> str:
    """The effective batch of one optimizer step across every process, and the learning rate."""
    unit = "streams" if config.mode == "stateful" else "windows"
    chars = world_size * config.batch_size * config.seq_len
    return (
        f"effective batch {world_size} x {config.batch_size} {unit} x {config.seq_len} chars "
        f"= {chars:,} chars per step; lr {config.lr} (not scaled with the number of devices)"
    )


class CharDataModule(pl.LightningDataModule):
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
        else:
            train = WindowBatches(train_ids, c.batch_size, c.seq_len, c.seed, rank, world)
        self.batches = {"train": train}
        for split in ("val", "val_clean"):
            if split in self.paths and (split == "val" or len(self.texts[split])):
                ids = val_ids if split == "val" else load_encoded(self.paths[split])
                streams = max(1, min(c.batch_size, (len(ids) - 1) // (world * (c.seq_len + 1))))
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


class EpochLog(Callback):
    """One CSV row per epoch (LOG_COLUMNS) and a PNG of the curves, kept across --resume.

    Lightning's CSVLogger deletes an existing metrics.csv when its folder is not empty, which
    would lose the history of a resumed run; this log appends instead.
    """

    def __init__(self, run_dir: Path) -> None:
        self.csv_path = run_dir / "log.csv"
        self.plot_path = run_dir / "curves.png"

    def on_train_start(self, trainer: pl.Trainer, pl_module: CharLanguageModel) -> None:
        if not trainer.is_global_zero:
            return
        # after a resume, current_epoch counts the epochs the checkpoint had completed
        rows = [r for r in self.rows() if int(r["epoch"]) <= trainer.current_epoch]
        self._write(rows)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: CharLanguageModel) -> None:
        metrics = trainer.callback_metrics
        if not trainer.is_global_zero or trainer.sanity_checking or "val_bpc" not in metrics:
            return
        metrics = {k: float(v) for k, v in metrics.items()}
        row = {
            "epoch": trainer.current_epoch + 1,
            "train_loss": metrics.get("loss_epoch", math.nan),
            "train_acc": metrics.get("acc", math.nan),
            "val_loss": metrics["val_loss"],
            "val_acc": metrics["val_acc"],
            "val_bpc": metrics["val_bpc"],
            "val_clean_bpc": metrics.get("val_clean_bpc", ""),
            "chars_per_s": round(pl_module.chars_per_s, 1),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
        }
        self._write([*self.rows(), row])
        plot_curves(self.csv_path, self.plot_path)

    def rows(self) -> list[dict]:
        if not self.csv_path.exists():
            return []
        with self.csv_path.open(newline="") as file:
            return list(csv.DictReader(file))

    def _write(self, rows: list[dict]) -> None:
        def write(path: Path) -> None:
            with path.open("w", newline="") as file:
                writer = csv.DictWriter(file, fieldnames=LOG_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)

        write_atomically(self.csv_path, write)  # a kill never leaves half a history


def plot_curves(csv_path: Path, png_path: Path) -> None:
    """Loss and bits-per-character curves from the epoch log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    epochs = [int(r["epoch"]) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [float(r["train_loss"]) for r in rows], "o-", label="train loss")
    left.plot(epochs, [float(r["val_loss"]) for r in rows], "o-", label="val loss")
    left.set(xlabel="epoch", ylabel="cross-entropy (nats/char)", title="loss")
    right.plot(epochs, [float(r["val_bpc"]) for r in rows], "o-", color="C2", label="val")
    clean = [
        (e, float(r["val_clean_bpc"]))
        for e, r in zip(epochs, rows, strict=True)
        if r.get("val_clean_bpc")
    ]
    if clean:
        right.plot(
            [e for e, _ in clean], [b for _, b in clean], "o-", color="C3", label="val, cleaned"
        )
    right.set(xlabel="epoch", ylabel="bits per character", title="held-out bits/char")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    write_atomically(png_path, lambda path: fig.savefig(path, dpi=100, format="png"))
    plt.close(fig)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made crash-safe: every checkpoint (best, last, periodic,
    Ctrl-C) goes through checkpoint.write_checkpoint (weights digest, temporary file in the same
    folder, fsync, rename), so a kill -9 at any moment leaves the previous good file."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        write_checkpoint(checkpoint, Path(path))


class SaveOnInterrupt(Callback):
    """Ctrl-C: write last.ckpt before Lightning shuts down, so --resume can continue."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "last.ckpt"

    def on_exception(self, trainer: pl.Trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt) and trainer.is_global_zero:
            trainer.save_checkpoint(self.path, weights_only=False)
            print(f"\ninterrupted: saved {self.path}; continue with --resume {self.path.parent}")


@dataclass
class TrainResult:
    run_dir: Path
    best_val_bpc: float
    epochs: int
    interrupted: bool
    global_rank: int  # 0 in the process that reports; DDP runs this in every process
    finetuned_from: dict | None = None  # a fine-tuning run's lineage (finetune.start_from)


def prepare_corpus(
    train: TrainConfig, folder: Path, vocab: Vocabulary | None = None, extend: bool = False
) -> tuple[dict[str, Texts], Vocabulary, dict]:
    """Read the corpus in one streaming pass into split text files in `folder`; the vocabulary
    comes from those texts unless given (with `extend`, the given one plus the symbols of the
    texts that it lacks: fine-tuning).

    Returns (texts by split, vocabulary, corpus description for the checkpoint). Tunes are never
    all in memory: a corpus of gigabytes needs the memory of its largest file, not of itself.
    MIDI corpora (--midi) come as word texts from midi_data.prepare_midi_corpus.
    """
    if train.corpus_kind == "midi":
        return prepare_midi_corpus(train, vocab, extend)
    report = ReadReport()
    tunes = iter_corpus(train.corpus, report, train.keep_metadata)
    augmenter = None
    if train.transpose or train.transpose_all:  # validation tunes stay in their own key
        augmenter = KeyAugmenter(train.target_keys if train.transpose else ())
    augment = augmenter.texts if augmenter else None
    cleaner = None if train.keep_unclean else TuneCleaner()
    clean = cleaner.text if cleaner else None
    texts = write_splits((t.text for t in tunes), folder, train.val_fraction, augment, clean)
    if cleaner:
        report.dropped.update(cleaner.dropped)
        report.kept -= sum(cleaner.dropped.values())
        report.changes.update(cleaner.changes)
    if augmenter:
        report.changes.update(augmenter.counts)
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        announce(f"tunegen: {problem}", sys.stderr)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        more = len(report.problems) - MAX_PROBLEMS_SHOWN
        announce(f"tunegen: ... and {more} more problems", sys.stderr)
    if vocab is None:
        vocab = Vocabulary.from_texts(chain(*texts.values()), train.tokenizer)
    elif extend:
        vocab = vocab.with_symbols_of(chain(*texts.values()))
    info = {
        "description": corpus_description(train.corpus),
        "report": report.summary(),
    }
    for split, split_texts in texts.items():
        counts = split_counts(split_texts, vocab)
        info.update({f"{split}_{name}": value for name, value in counts.items()})
    return texts, vocab, info


MAX_PROBLEMS_SHOWN = 20  # read problems printed when training starts; `info` has the counts
RUN_FILES = ("log.csv", "curves.png", "corpus-train.txt", "corpus-val.txt")


@rank_zero_only
def announce(line: str, file=None) -> None:
    """One line from the reporting process (every DDP rank reads the corpus); problems go to
    stderr, the read report to stdout."""
    print(line, file=file or sys.stdout, flush=True)


def corpus_files(config: TrainConfig) -> list[Path]:
    """The files a run reads, in reading order (bundled corpora, folders and globs resolved)."""
    resolve = resolve_midi_files if config.corpus_kind == "midi" else resolve_abc_files
    names = [part for spec in config.corpus for part in spec.split("+") if part]
    if not names:
        raise CorpusError("no corpus given")
    return [path for name in names for path in resolve(name)]


def check_run_dir(run_dir: Path, force: bool) -> None:
    """Refuse to write over the checkpoints, log, plot or corpus texts of another run unless
    forced; a folder that cannot be made is a one-line error."""
    existing = sorted(run_dir.glob("*.ckpt")) if run_dir.is_dir() else []
    if existing and not force:
        raise UsageError(
            f"{run_dir} already holds checkpoints ({existing[0].name}); "
            "use --resume to continue it, --force to start over, or --out for a new folder"
        )
    if launched_rank() == 0:  # other ranks start after rank 0 (or with it) has written its texts
        refuse_overwrite([run_dir / name for name in RUN_FILES], force)
    ensure_folder(run_dir)
    # missing_ok: under torchrun or SLURM every rank runs this at the same time
    for path in existing:
        path.unlink(missing_ok=True)
    if force:
        (run_dir / "log.csv").unlink(missing_ok=True)


def launched_rank() -> int:
    """This process's global rank as its launcher tells it (torchrun, SLURM, or Lightning's own
    launcher, which starts ranks 1.. with LOCAL_RANK on one machine); 0 when not distributed."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def remove_corpus_files(run_dir: Path) -> None:
    """Delete the split texts and id arrays a run wrote, and its folder if that leaves it empty."""
    for split in ("train", "val", "val_clean"):
        for suffix in ("txt", "npy"):
            (run_dir / f"corpus-{split}.{suffix}").unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty, or not ours to remove
        run_dir.rmdir()


def train(
    model_config: dict,
    config: TrainConfig,
    run_dir: Path,
    resume_from: Path | None = None,
    init: InitialModel | None = None,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train (or resume) a model, writing checkpoints, log.csv and curves.png to run_dir.

    With `init`, fine-tune: start from that model's weights and vocabulary, extended to the
    corpus' new symbols (finetune.py). `callbacks` join the Trainer's own (benchmarks).
    """
    vocab = None
    digests = file_digests(corpus_files(config))
    if resume_from is not None:
        meta = read_checkpoint_file(resume_from)["tunegen"]
        vocab = Vocabulary.from_dict(meta["vocab"])
        model_config = {k: v for k, v in meta["model"].items() if k != "vocab_size"}
        changes = digest_changes(meta["corpus"].get("files", digests), digests)
        if changes:
            more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
            raise CorpusError(
                f"{resume_from}: the corpus changed since this checkpoint ({'; '.join(changes[:3])}"
                f"{more}); a resume needs the same files, or start a new run with --out"
            )
    elif init is not None:
        vocab = init.checkpoint.vocab
    pl.seed_everything(config.seed, verbose=False)
    try:
        texts, vocab, info = prepare_corpus(config, run_dir, vocab, extend=init is not None)
        c = config  # refused before Lightning starts (and prints): the processes that will run
        world = (c.devices if isinstance(c.devices, int) else 1) * c.num_nodes
        check_batches_fit(info["train_symbols"], c.mode, c.batch_size, c.seq_len, world)
    except TunegenError:
        if resume_from is None:  # a new run that cannot start leaves no files behind
            remove_corpus_files(run_dir)
        raise
    info["files"] = digests
    announce(f"read {info['description']}: {info['report']}")
    module = CharLanguageModel(model_config, config, vocab, info)
    if init is not None:
        start_from(init, module, texts)
    data = CharDataModule(texts, vocab, config, run_dir, lambda: module.batches_done)
    trainer = build_trainer(config, run_dir, callbacks)
    try:
        with warnings.catch_warnings():
            # the folder holds this run's corpus .npy files (and log when resuming), and
            # check_run_dir has already refused to write over another run's checkpoints
            warnings.filterwarnings("ignore", ".*exists and is not empty", UserWarning)
            trainer.fit(module, datamodule=data, ckpt_path=resume_from)
    except SystemExit:  # Lightning exits after a Ctrl-C, once SaveOnInterrupt has saved
        if not trainer.interrupted:
            raise
    else:  # a --max-minutes stop can end mid-epoch, after the last epoch-end checkpoint
        trainer.save_checkpoint(run_dir / "last.ckpt", weights_only=False)
    epochs, rank = module.epochs_done, trainer.global_rank
    lineage = module.extra_meta.get("finetuned_from")
    return TrainResult(run_dir, module.best_val_bpc, epochs, trainer.interrupted, rank, lineage)


def build_trainer(
    config: TrainConfig, run_dir: Path, callbacks: Sequence[Callback] = ()
) -> pl.Trainer:
    """A Trainer with best/last/periodic checkpoints, the epoch log and Ctrl-C saving.

    With several devices or nodes it runs Lightning's DDP: one process per device, launched by
    Lightning itself or found in the environment of torchrun or SLURM; checkpoints are written by
    rank 0 only.
    """
    best = ModelCheckpoint(
        dirpath=run_dir,
        filename="best",
        monitor="val_bpc",
        mode="min",
        save_top_k=1,
        save_last=True,
        enable_version_counter=False,
    )
    periodic = ModelCheckpoint(
        dirpath=run_dir,
        filename="epoch-{epoch:03d}",
        every_n_epochs=config.checkpoint_every,
        save_top_k=-1,
        auto_insert_metric_name=False,
    )
    max_time = {"minutes": config.max_minutes} if config.max_minutes else None
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=config.epochs,
        max_time=max_time,
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy="ddp" if config.distributed else "auto",
        use_distributed_sampler=False,  # each dataset item is already this rank's whole batch
        precision=config.precision,
        gradient_clip_val=config.grad_clip,
        callbacks=[best, periodic, EpochLog(run_dir), SaveOnInterrupt(run_dir), *callbacks],
        plugins=[AtomicCheckpointIO()],
        logger=False,
        num_sanity_val_steps=0,
        enable_model_summary=False,
        log_every_n_steps=10,
    )
