"""Training with Lightning: the Trainer's set-up and `train`, which runs, resumes or
fine-tunes a model into a run folder."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from tunegen.data.batches import check_batches_fit, digest_changes, file_digests
from tunegen.data.vocab import Vocabulary
from tunegen.errors import CorpusError, Setting, SettingError, TunegenError
from tunegen.models.checkpoint import read_checkpoint_file
from tunegen.runtime.fileio import ensure_folder, refuse_overwrite
from tunegen.training.callbacks import AtomicCheckpointIO, EpochLog, SaveOnInterrupt
from tunegen.training.config import TrainConfig
from tunegen.training.corpus import announce, corpus_files, prepare_corpus
from tunegen.training.datamodule import SymbolDataModule
from tunegen.training.finetune import InitialModel, start_from
from tunegen.training.module import LanguageModel

RUN_FILES = ("log.csv", "curves.png", "corpus-train.txt", "corpus-val.txt")


@dataclass
class TrainResult:
    run_dir: Path
    best_val_bpc: float
    epochs: int
    interrupted: bool
    global_rank: int  # 0 in the process that reports; DDP runs this in every process
    finetuned_from: dict | None = None  # a fine-tuning run's lineage (finetune.start_from)


def check_run_dir(run_dir: Path, force: bool) -> None:
    """Refuse to write over the checkpoints, log, plot or corpus texts of another run unless
    forced; a folder that cannot be made is a one-line error."""
    existing = sorted(run_dir.glob("*.ckpt")) if run_dir.is_dir() else []
    if existing and not force:
        raise SettingError(
            f"{run_dir} already holds checkpoints ({existing[0].name}); use ",
            Setting("resume"), " to continue it, ", Setting("force"), " to start over, or ",
            Setting("out"), " for a new folder",
        )  # fmt: skip
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
                f"{more}); a resume needs the same files, or start a new run in another folder"
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
    module = LanguageModel(model_config, config, vocab, info)
    if init is not None:
        start_from(init, module, texts)
    data = SymbolDataModule(texts, vocab, config, run_dir, lambda: module.batches_done)
    trainer = build_trainer(config, run_dir, callbacks)
    try:
        with warnings.catch_warnings():
            # the folder holds this run's corpus .npy files (and log when resuming), and
            # check_run_dir has already refused to write over another run's checkpoints
            warnings.filterwarnings("ignore", ".*exists and is not empty", UserWarning)
            # --mode tunes skips the steps after every stream has ended (LanguageModel)
            warnings.filterwarnings("ignore", "`training_step` returned `None`", UserWarning)
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
