"""Fine-tuning: a new run that starts from a checkpoint's weights and vocabulary, extended to the
symbols of the user's tunes, and records what it was fine-tuned from (its lineage)."""

from __future__ import annotations

import hashlib
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from tunegen.data.batches import StatefulBatches, encode_texts
from tunegen.errors import Setting, SettingError
from tunegen.evaluation.likelihood import corpus_likelihood
from tunegen.models.checkpoint import BUNDLED_MODEL, Checkpoint, load_checkpoint
from tunegen.training.config import TrainConfig, check_mode_fits

if TYPE_CHECKING:
    from tunegen.data.vocab import Vocabulary
    from tunegen.training.module import LanguageModel

BUNDLED = "bundled"
# A fine-tuning run's default learning rate is the initial model's own times this: 2e-3 for the
# bundled model (5e-3). Measured with benchmarks/finetune.py on music21's miscFolk (181 tunes
# the bundled model never saw), 1 CPU minute each (benchmarks/RESULTS.md): 5e-3 reached 2.101
# held-out bits/char at its best epoch but ended the minute at 2.305 (it overfits and jumps);
# 2e-3 reached 2.125 and ended at 2.134; 1e-3 2.155 and 2.156. A run folder's last.ckpt is
# what `generate` uses, so the steadier rate is the default.
FINETUNE_LR_SCALE = 0.4
FEW_TUNES = 20  # below this, a 5% hash split holds out one or two tunes: figures mean little
CALIBRATION_SYMBOLS = 32_768  # training symbols read to set the new output biases
CALIBRATION_ROUNDS = 3
# Training settings a fine-tuning run takes from its initial model unless the user sets them;
# of these, the ones that define the symbols (or the preset's name) cannot differ from it.
INHERITED = (
    "preset",
    "tokenizer",
    "mode",
    "batch_size",
    "seq_len",
    "grad_clip",
    "keep_metadata",
    "codec",
    "grid",
    "parts",
)
FIXED = ("preset", "tokenizer", "codec", "grid", "parts")
CHANGEABLE_MODEL = ("dropout",)  # every other model option is the shape of the weights
META_CARRIED = ("finetuned_from", "sampling")  # checkpoint metadata a fine-tuned run keeps


@dataclass
class InitialModel:
    """The model a fine-tuning run starts from: the loaded checkpoint, as the user named it."""

    name: str  # "bundled" or the path as given
    checkpoint: Checkpoint
    path: Path  # the checkpoint file itself
    digest: str  # sha256 of that file

    @property
    def meta(self) -> dict:
        return self.checkpoint.meta

    @property
    def kind(self) -> str:
        """What the model reads: "abc" or "midi"."""
        return self.checkpoint.kind


def read_initial_model(spec: str | Path) -> InitialModel:
    """`bundled` or a checkpoint file (or run folder, for its last.ckpt); CheckpointError if it
    is not a tunegen checkpoint."""
    path = BUNDLED_MODEL if str(spec) == BUNDLED else Path(spec)
    checkpoint = load_checkpoint(path)  # raises CheckpointError with the file's name
    if path.is_dir():
        path = path / "last.ckpt"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return InitialModel(str(spec), checkpoint, path, digest)


def finetune_configs(
    init: InitialModel, model_overrides: dict, train_overrides: dict
) -> tuple[dict, TrainConfig]:
    """The run's model config and TrainConfig: the initial model's shape, symbols and batching,
    the fine-tuning learning rate, then the user's options, which may not contradict the shape,
    the preset or what the symbols are (SettingError naming the setting)."""
    where = (Setting("init"), f" {init.name}")
    kind = train_overrides.get("corpus_kind", "abc")
    if kind != init.kind:
        wanted = (Setting(init.kind), " MIDI files" if init.kind == "midi" else " ABC tunes")
        article = "a" if init.kind == "midi" else "an"
        raise SettingError(
            *where, f" is {article} {init.kind.upper()} model: fine-tune it on ", *wanted
        )
    model = {key: value for key, value in init.meta["model"].items() if key != "vocab_size"}
    for name, value in model_overrides.items():
        if name in CHANGEABLE_MODEL:
            model[name] = value
        elif name not in model:
            raise SettingError(
                Setting(name), f" does not apply to the {model['kind']} model of ", *where
            )
        elif model[name] != value:
            raise SettingError(
                Setting(name), f" {value} contradicts ", *where, ", whose ", Setting(name),
                f" is {model[name]}; the shape comes from the initial model",
            )  # fmt: skip
    saved = init.meta["training"]
    known = {f.name for f in fields(TrainConfig)}
    inherited = {key: saved[key] for key in INHERITED if key in saved and key in known}
    for name in FIXED:
        given, own = train_overrides.get(name), inherited.get(name)
        if given is not None and own is not None and given != own:
            raise SettingError(
                Setting(name), f" {given} contradicts ", *where, f", whose {name} is {own}"
            )
    lr = saved.get("lr", TrainConfig.lr) * FINETUNE_LR_SCALE
    base = TrainConfig(**inherited, lr=lr, corpus_kind=init.kind)
    config = replace(base, **train_overrides)
    config.validate()
    check_mode_fits(model, config)
    return model, config


def grow_rows(weights: dict[str, torch.Tensor], added: int) -> dict[str, torch.Tensor]:
    """The model's weights with `added` vocabulary rows appended to the embedding and output
    layers, each the mean of the existing rows: a new symbol starts as an "average" one.

    The Transformer ties its output layer to the embedding; both keys grow the same way.
    """
    grown = dict(weights)
    for key in ("embedding.weight", "head.weight", "head.bias"):
        if key in grown and added:
            rows = grown[key]  # [V, ...]
            mean = rows.mean(dim=0, keepdim=True).expand(added, *rows.shape[1:])
            grown[key] = torch.cat([rows, mean], dim=0)
    return grown


def calibrate_new_biases(
    model: torch.nn.Module, texts: Iterable[str], vocab: Vocabulary, first_new: int
) -> None:
    """Set the output bias of each new symbol (ids first_new..) so that, over the opening
    CALIBRATION_SYMBOLS symbols of the training tunes, the model predicts it on average as
    often as it occurs there (add-one smoothed): the log of a small prior, measured.
    Each round adds log(share / predicted) to the biases.

    Models without an output bias (the tied Transformer) keep the mean rows only.
    """
    head = getattr(model, "head", None)
    if head is None or getattr(head, "bias", None) is None or first_new >= len(vocab):
        return
    sample, size = [], 0
    for text in texts:
        sample.append(text)
        size += vocab.length(text) + 1
        if size >= CALIBRATION_SYMBOLS:
            break
    ids = encode_texts(sample, vocab)
    new = np.arange(first_new, len(vocab))
    counts = np.bincount(ids[1:].astype(np.int64), minlength=len(vocab))[new]
    share = (counts + 1) / (len(ids) - 1 + len(new))
    batches = StatefulBatches(ids, max(1, min(16, (len(ids) - 1) // 129)), 128)
    was_training = model.training
    model.eval()
    # one correction is exact only while the new symbols' mass is small: repeat a few times
    for _ in range(CALIBRATION_ROUNDS):
        predicted = _mean_probabilities(model, batches, first_new)
        with torch.no_grad():
            head.bias[first_new:] += torch.from_numpy(np.log(share / predicted)).float()
    model.train(was_training)


def _mean_probabilities(model: torch.nn.Module, batches: StatefulBatches, first: int) -> np.ndarray:
    """The mean predicted probability of each symbol from id `first` on, over `batches`."""
    total, positions, state = None, 0, None
    with torch.inference_mode():
        for step in range(len(batches)):
            x, _ = batches[step]  # [B, T]
            logits, state = model(x, state)  # [B, T, V]
            probs = logits.float().softmax(-1)[..., first:].reshape(-1, logits.shape[-1] - first)
            summed = probs.double().sum(0)
            total = summed if total is None else total + summed
            positions += x.numel()
    return np.maximum(total.numpy() / max(positions, 1), 1e-12)


def start_from(init: InitialModel, module: LanguageModel, texts: dict) -> float:
    """Put the initial model's weights (grown to the run's vocabulary) into `module`, record the
    lineage, print what changed and return the held-out bits/char before the first step."""
    vocab, first_new = module.vocab, len(init.checkpoint.vocab)
    added = vocab.symbols[first_new:]
    module.model.load_state_dict(grow_rows(init.checkpoint.model.state_dict(), len(added)))
    calibrate_new_biases(module.model, texts["train"], vocab, first_new)
    config = module.train_config
    module.model.eval()  # scored exactly as each epoch's validation will score it
    scored = Checkpoint(module.model, vocab, {}, init.path)
    initial = corpus_likelihood(
        scored, texts["val"], config.batch_size, config.seq_len, config.mode == "tunes"
    )
    module.model.train()
    module.extra_meta = {
        "finetuned_from": {
            "name": init.name,
            "path": str(init.path.resolve()),
            "sha256": init.digest,
            "model": init.meta["model"]["kind"],
            "corpus": init.meta["corpus"].get("description", "?"),
            "epochs": init.meta.get("epochs"),
            "best_val_bpc": init.meta.get("best_val_bpc"),
            "new_symbols": added,
            "initial_val_bpc": initial.bits_per_char,
            "parent": init.meta.get("finetuned_from"),
        },
        **({"sampling": init.meta["sampling"]} if "sampling" in init.meta else {}),
    }
    _announce(init, module, initial.bits_per_char)
    return initial.bits_per_char


@rank_zero_only
def _announce(init: InitialModel, module: LanguageModel, initial_bpc: float) -> None:
    info, lineage = module.corpus_info, module.extra_meta["finetuned_from"]
    print(
        f"fine-tuning {init.name} ({init.path}, sha256 {init.digest[:12]}): "
        f"{lineage['model']}, preset {module.train_config.preset}, lr {module.train_config.lr}"
    )
    for line in describe_new_symbols(lineage["new_symbols"], len(init.checkpoint.vocab)):
        print(line)
    tunes = info["train_tunes"] + info["val_tunes"]
    if tunes < FEW_TUNES:
        print(
            f"tunegen: warning: only {tunes} tunes, {info['val_tunes']} held out: the held-out "
            f"figures mean little below {FEW_TUNES} tunes",
            file=sys.stderr,
        )
    unit = "char" if module.vocab.counts_characters else "word"
    print(
        f"initial model on your {info['val_tunes']} held-out tunes: {initial_bpc:.3f} bits/{unit}"
        " (each epoch's val bits/char reads against this)"
    )


def describe_new_symbols(symbols: list[str], old_size: int) -> list[str]:
    """The summary lines for the symbols a fine-tuning run added to the vocabulary."""
    if not symbols:
        return [f"vocabulary: the initial model's {old_size} symbols cover your tunes"]
    shown = " ".join(repr(s) for s in symbols[:40]) + (" ..." if len(symbols) > 40 else "")
    return [
        f"vocabulary: {old_size} symbols + {len(symbols)} new: {shown}",
        "  new embedding and output rows: the mean of the existing rows; output biases set so "
        "that each new symbol is predicted about as often as it occurs in your training tunes",
    ]


def describe_lineage(meta: dict) -> list[str]:
    """`tunegen info` lines: what a checkpoint was fine-tuned from, and what that came from."""
    lines, lineage, depth = [], meta.get("finetuned_from"), 0
    while lineage:
        lead = "fine-tuned from" if depth == 0 else "  " * depth + "which was fine-tuned from"
        epochs = lineage.get("epochs")
        best = lineage.get("best_val_bpc")
        trained = f", {epochs} epochs" if epochs is not None else ""
        own = f", its own best val bits/char {best:.3f}" if best and math.isfinite(best) else ""
        lines.append(
            f"{lead}: {lineage['name']} ({lineage['model']} trained on "
            f"{lineage['corpus']}{trained}{own}; sha256 {lineage['sha256'][:16]})"
        )
        pad = "  " * (depth + 1)
        lines.append(
            f"{pad}held-out bits/char before fine-tuning: {lineage['initial_val_bpc']:.3f}"
        )
        new = lineage.get("new_symbols") or []
        if new:
            lines.append(f"{pad}symbols added: {' '.join(repr(s) for s in new)}")
        lineage, depth = lineage.get("parent"), depth + 1
    return lines
