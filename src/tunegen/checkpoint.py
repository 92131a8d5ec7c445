"""One checkpoint file carries weights, vocabulary and configs; loading it needs no Lightning."""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tunegen.errors import CheckpointError
from tunegen.models import build_model
from tunegen.vocab import Vocabulary

FORMAT_VERSION = 1
MODEL_PREFIX = "model."  # the LightningModule holds the nn.Module as `self.model`
# The pretrained model shipped inside the package (see its MODEL_CARD.md beside it).
BUNDLED_MODEL = Path(__file__).parent / "pretrained" / "folk.ckpt"


@dataclass
class Checkpoint:
    """A loaded model with its vocabulary and the metadata written at training time."""

    model: nn.Module
    vocab: Vocabulary
    meta: dict
    path: Path


def read_checkpoint_file(path: str | Path) -> dict:
    """The raw checkpoint dict, loaded safely (weights_only): a clear error if it is not one."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.ckpt"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = next((line for line in lines if "error:" in line), lines[0] if lines else "")
        reason = reason or type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(raw, dict) or "tunegen" not in raw or "state_dict" not in raw:
        raise CheckpointError(f"{path}: not a tunegen checkpoint")
    return raw


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model from a checkpoint file (or a run folder's last.ckpt) for inference."""
    raw = read_checkpoint_file(path)
    meta = raw["tunegen"]
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: made by a newer tunegen (format {meta['format_version']})")
    model = build_model(meta["model"])
    weights = {
        key.removeprefix(MODEL_PREFIX): value
        for key, value in raw["state_dict"].items()
        if key.startswith(MODEL_PREFIX)
    }
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the model config ({err})") from None
    model.eval()
    meta = {**meta, "epochs": raw.get("epoch", -1) + 1, "global_step": raw.get("global_step", 0)}
    return Checkpoint(model, Vocabulary.from_dict(meta["vocab"]), meta, Path(path))


def export_checkpoint(
    source: str | Path, dest: Path, half: bool = True, temperature: float | None = None
) -> Path:
    """A compact copy of a checkpoint for sharing or bundling: the model's weights (in half
    precision unless `half` is False), vocabulary and configs, without optimizer or trainer state.
    `temperature`, if given, becomes the model's default sampling temperature.

    The copy loads with load_checkpoint like any other (weights return to float32 on loading).
    """
    raw = read_checkpoint_file(source)
    dtype = torch.float16 if half else torch.float32
    weights = {
        key: value.to(dtype) if value.is_floating_point() else value
        for key, value in raw["state_dict"].items()
        if key.startswith(MODEL_PREFIX)
    }
    meta = {key: value for key, value in raw["tunegen"].items() if key != "rng"}
    if temperature is not None:
        meta["sampling"] = {"temperature": temperature}
    compact = {
        "state_dict": weights,
        "tunegen": {**meta, "exported_from": str(source), "weights_dtype": str(dtype)},
        "epoch": raw.get("epoch", -1),
        "global_step": raw.get("global_step", 0),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial")
    torch.save(compact, partial)
    partial.replace(dest)
    return dest
