"""The LightningModule: training logic (loss, bits per character, exact resumes) around a
pure nn.Module from tunegen.models."""

from __future__ import annotations

import math
import time

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.nn import functional as F

from tunegen.data.batches import IGNORE, TuneBatches, WindowBatches, fresh_tune_starts
from tunegen.data.vocab import Vocabulary
from tunegen.models import build_model
from tunegen.models.checkpoint import FORMAT_VERSION, completed_epochs
from tunegen.training.config import TrainConfig
from tunegen.training.finetune import META_CARRIED


class LanguageModel(pl.LightningModule):
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
        # this epoch's training so far, for its log row (epoch_figures): loss x targets,
        # correct, targets (tensors: no device sync per step), characters, seconds; kept in a
        # checkpoint written within the epoch, so that a resumed epoch's row counts all of it
        self._epoch_sums: list = [0.0, 0, 0]
        self._epoch_chars = 0.0
        self._epoch_started = 0.0
        self._epoch_busy = 0.0
        self._step_sums: tuple | None = None  # the step's, added once the weights moved
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
        mode = self.train_config.mode
        if stage != "train" and mode == "windows":
            mode = "stateful"  # validation streams the held-out text in order
        if mode != "windows":
            state = None if batch_idx == 0 else self._state[stage]
        if mode == "tunes":  # a tune's first chunk starts afresh
            state = fresh_tune_starts(state, x, y)
        logits, new_state = self.model(x, state)
        self._state[stage] = [(h.detach(), c.detach()) for h, c in new_state]
        flat, targets = logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1)
        count = y.numel() if mode != "tunes" else int((targets != IGNORE).sum())
        # a batch of empty rows (a DDP rank past a few tunes' last chunk) has no loss, not NaN
        loss = F.cross_entropy(flat, targets, ignore_index=IGNORE) if count else flat.sum() * 0.0
        correct = (flat.argmax(-1) == targets).sum()
        return loss, correct, count

    def training_step(self, batch, batch_idx: int):
        _, y = batch
        alone = self.trainer.world_size == 1
        if self.train_config.mode == "tunes" and alone and not bool((y != IGNORE).any()):
            # every stream of this epoch has ended (--mode tunes): no forward pass and no
            # optimizer step (Adam would move the weights on its momentum alone). Under DDP
            # every rank must step together, so such a batch there has a loss of 0.
            return None
        loss, correct, count = self._shared_step(batch, batch_idx, "train")
        # sync_dist: under DDP the logged loss is the mean over every rank's streams; weighted by
        # the targets of each batch, so that the epoch's figures are per target (--mode tunes:
        # a batch's rows may be short or empty)
        weight = max(count, 1)
        self.log(
            "loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True,
            batch_size=weight,
        )  # fmt: skip
        self.log("acc", correct / weight, on_epoch=True, sync_dist=True, batch_size=weight)
        # every rank steps the same shape
        chars = count * self.trainer.world_size * self.chars_per_symbol["train"]
        self._step_sums = (loss.detach() * count, correct, count, chars)
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
        if self._step_sums is not None:
            loss, correct, count, chars = self._step_sums
            sums = self._epoch_sums
            self._epoch_sums = [sums[0] + loss, sums[1] + correct, sums[2] + count]
            self._epoch_chars += chars
            self._step_sums = None

    def on_train_epoch_end(self) -> None:
        self.epochs_done += 1
        self.batches_done, self._carry = 0, None

    def on_train_start(self) -> None:
        rank_zero_info(describe_batch(self.train_config, self.trainer.world_size))
        self._epoch_started = time.perf_counter() - self._epoch_busy  # resumed within an epoch
        if self._carry is not None:  # resumed in mid-epoch: streams go on from where they were
            self._state["train"] = [(h.to(self.device), c.to(self.device)) for h, c in self._carry]

    def on_train_epoch_start(self) -> None:  # (not called for an epoch resumed within)
        self._restore_epoch(None)
        self._epoch_started = time.perf_counter()
        train_batches = self.trainer.train_dataloader.dataset
        if isinstance(train_batches, WindowBatches | TuneBatches):
            train_batches.epoch = self.current_epoch

    def _restore_epoch(self, so_far: dict | None) -> None:
        """Start this epoch's figures afresh, or from a checkpoint's `epoch_so_far`."""
        so_far = so_far or {}
        self._epoch_sums = [so_far.get(key, 0) for key in ("loss", "correct", "targets")]
        self._epoch_chars = so_far.get("chars", 0.0)
        self._epoch_busy = so_far.get("seconds", 0.0)
        self.chars_per_s = self._epoch_chars / self._epoch_busy if self._epoch_busy else 0.0

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
        if self._stopped_in_validation():
            self._restart_validation(checkpoint)
        within = mid_epoch or self._stopped_in_validation()
        checkpoint["tunegen"] = {
            "format_version": FORMAT_VERSION,
            "model": self.model_config,
            "vocab": self.vocab.to_dict(),
            "training": self.train_config.to_dict(),
            "corpus": self.corpus_info,
            "best_val_bpc": self.best_val_bpc,
            "rng": torch.get_rng_state(),
            # an epoch-end checkpoint is written after its last batch, before on_train_epoch_end;
            # a Ctrl-C during that validation is not: the resumed run ends the epoch itself
            "epochs_completed": self.epochs_done
            + int(self.batches_done >= steps and not self._stopped_in_validation()),
            "batches_done": self.batches_done if mid_epoch else 0,
            "carry": carry,
            "epoch_so_far": self._epoch_so_far() if within else None,
            **self.extra_meta,
        }

    def _stopped_in_validation(self) -> bool:
        trainer = self.trainer
        return trainer.interrupted and trainer.validating

    def _epoch_so_far(self) -> dict:
        """This epoch's training so far (this rank's streams), for a checkpoint written within
        it: a Ctrl-C in mid-epoch or during its validation."""
        loss, correct, count = self._epoch_sums
        return {
            "loss": float(loss),
            "correct": int(correct),
            "targets": int(count),
            "chars": self._epoch_chars,
            "seconds": self._epoch_busy,
        }

    def epoch_figures(self) -> dict[str, float]:
        """The epoch's training loss and accuracy per target, over every rank's streams, and
        its chars/s, the batches before a resume included (Lightning's own epoch means count
        only the batches since). Called on every rank: it sums across them."""
        sums = torch.tensor([float(value) for value in self._epoch_sums], dtype=torch.float64)
        if self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums.to(self.device), reduce_op="sum").cpu()
        loss, correct, count = sums.tolist()
        return {
            "train_loss": loss / count if count else math.nan,
            "train_acc": correct / count if count else math.nan,
            "chars_per_s": self.chars_per_s,
        }

    @staticmethod
    def _restart_validation(checkpoint: dict) -> None:
        """Make the validation that a Ctrl-C cut start again from its first batch when the run
        resumes. As saved, Lightning (2.6) either skips it (cut before a batch started: the
        epoch gets no val_bpc and no log row) or runs only its remaining batches, of which a
        second validation set loses the last (val_clean_bpc over part of the text). Its batch
        progress is made that of a run cut inside its first batch, which Lightning restarts."""
        loop = checkpoint.get("loops", {}).get("fit_loop", {})
        progress = loop.get("epoch_loop.val_loop.batch_progress")
        if progress is None:
            return
        first = {"ready": 1, "started": 1, "processed": 0, "completed": 0}
        progress.update(total=dict(first), current=dict(first), is_last_batch=False)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        meta = checkpoint["tunegen"]
        self.extra_meta = {key: meta[key] for key in META_CARRIED if key in meta}
        self.best_val_bpc = meta["best_val_bpc"]
        torch.set_rng_state(meta["rng"])
        self.epochs_done = completed_epochs(checkpoint)
        self.batches_done = meta.get("batches_done", 0)
        self._carry = meta.get("carry")
        self._restore_epoch(meta.get("epoch_so_far"))


def describe_batch(config: TrainConfig, world_size: int) -> str:
    """The effective batch of one optimizer step across every process, and the learning rate."""
    unit = {"stateful": "streams", "tunes": "streams of whole tunes", "windows": "windows"}[
        config.mode
    ]
    chars = world_size * config.batch_size * config.seq_len
    return (
        f"effective batch {world_size} x {config.batch_size} {unit} x {config.seq_len} chars "
        f"= {chars:,} chars per step; lr {config.lr} (not scaled with the number of devices)"
    )
