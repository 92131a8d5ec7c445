"""The Trainer's own callbacks: the epoch log and its plot, crash-safe checkpoint writes and
a resumable checkpoint on Ctrl-C."""

from __future__ import annotations

import csv
from pathlib import Path

import lightning.pytorch as pl
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback

from tunegen.models.checkpoint import write_checkpoint
from tunegen.runtime.fileio import write_atomically
from tunegen.training.module import LanguageModel

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


class EpochLog(Callback):
    """One CSV row per epoch (LOG_COLUMNS) and a PNG of the curves, kept across --resume.

    Lightning's CSVLogger deletes an existing metrics.csv when its folder is not empty, which
    would lose the history of a resumed run; this log appends instead.
    """

    def __init__(self, run_dir: Path) -> None:
        self.csv_path = run_dir / "log.csv"
        self.plot_path = run_dir / "curves.png"

    def on_train_start(self, trainer: pl.Trainer, pl_module: LanguageModel) -> None:
        if not trainer.is_global_zero:
            return
        # after a resume, current_epoch counts the epochs the checkpoint had completed
        rows = [r for r in self.rows() if int(r["epoch"]) <= trainer.current_epoch]
        self._write(rows)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: LanguageModel) -> None:
        figures = pl_module.epoch_figures()  # on every rank: it sums across them
        metrics = trainer.callback_metrics
        if not trainer.is_global_zero or trainer.sanity_checking or "val_bpc" not in metrics:
            return
        metrics = {k: float(v) for k, v in metrics.items()}
        row = {
            "epoch": trainer.current_epoch + 1,
            "train_loss": figures["train_loss"],
            "train_acc": figures["train_acc"],
            "val_loss": metrics["val_loss"],
            "val_acc": metrics["val_acc"],
            "val_bpc": metrics["val_bpc"],
            "val_clean_bpc": metrics.get("val_clean_bpc", ""),
            "chars_per_s": round(figures["chars_per_s"], 1),
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
    """Ctrl-C: write last.ckpt before Lightning shuts down, so --resume can continue.

    Not Lightning's OnExceptionCheckpoint (2.6), which does not give the same guarantees: its
    `teardown` deletes its file when fit ends normally, and its file must be last.ckpt (what
    `--resume RUN` reads, and what ModelCheckpoint's save_last writes), so a finished run would
    lose its last checkpoint; it saves on every exception, so a step that crashes would replace a
    good last.ckpt; and it saves on every rank, while this saves on rank 0 only, as every other
    checkpoint is written. Both save through trainer.save_checkpoint, so both carry the tunegen
    metadata (LanguageModel.on_save_checkpoint) and go through AtomicCheckpointIO.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "last.ckpt"

    def on_exception(self, trainer: pl.Trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt) and trainer.is_global_zero:
            trainer.save_checkpoint(self.path, weights_only=False)
            print(f"\ninterrupted: saved {self.path}; continue with --resume {self.path.parent}")
