"""One checkpoint file carries weights, vocabulary and configs; loading it needs no Lightning.

Importing this module does not import torch: `load_for_sampling` reads an ABC LSTM checkpoint
into numpy arrays (`tunegen.models.torch_file`), which is all that `tunegen generate` needs; the
rest loads torch when called.
"""

from __future__ import annotations

import glob
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunegen.data.vocab import Vocabulary
from tunegen.errors import CheckpointError, Setting, SettingError, TunegenError
from tunegen.models import build_model, model_shape
from tunegen.models.numpy_lstm import NumpyLSTM
from tunegen.models.torch_file import TORCH_DTYPE_NAMES, Unreadable, read_torch_file
from tunegen.runtime.fileio import write_atomically
from tunegen.sampling.options import MAX_TEMPERATURE

if TYPE_CHECKING:
    from torch import nn

FORMAT_VERSION = 1
MODEL_PREFIX = "model."  # the LightningModule holds the nn.Module as `self.model`
# The pretrained model shipped inside the package (see its MODEL_CARD.md beside it).
BUNDLED_MODEL = Path(__file__).parents[1] / "pretrained" / "folk.ckpt"


@dataclass
class Checkpoint:
    """A loaded model with its vocabulary and the metadata written at training time."""

    model: nn.Module | NumpyLSTM  # NumpyLSTM: loaded for sampling only (load_for_sampling)
    vocab: Vocabulary
    meta: dict
    path: Path

    @property
    def kind(self) -> str:
        """What the model reads and writes: "abc" (tunes) or "midi" (event words of pieces)."""
        return self.meta["corpus"].get("kind", "abc")


def weights_digest(state_dict: Mapping[str, Any]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order; torch tensors
    and the numpy arrays that `read_torch_file` makes of them give the same digest."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key]
        if isinstance(value, np.ndarray):
            array, dtype = np.ascontiguousarray(value), TORCH_DTYPE_NAMES[value.dtype]
        elif hasattr(value, "detach"):  # a torch.Tensor (torch is loaded if one exists)
            import torch

            tensor = value.detach().cpu().contiguous()
            array, dtype = tensor.reshape(-1).view(torch.uint8).numpy(), str(tensor.dtype)
        else:
            continue
        digest.update(f"{key}|{dtype}|{tuple(value.shape)}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_checkpoint(checkpoint: dict, path: Path) -> Path:
    """Save a checkpoint dict crash-safely: the weights' digest is stored in its metadata, the
    bytes go to a temporary file in the same folder, are fsynced and renamed into place, so a
    kill at any moment leaves the previous good checkpoint (Lightning's saves come through here,
    see training.AtomicCheckpointIO)."""
    import torch

    if isinstance(checkpoint.get("tunegen"), dict) and "state_dict" in checkpoint:
        checkpoint["tunegen"]["weights_sha256"] = weights_digest(checkpoint["state_dict"])
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    path = write_atomically(Path(path), buffer.getvalue(), sync=True)
    # a writer killed in mid-write left its temporary file; only one process writes a given
    # checkpoint (rank 0), so any other is an orphan
    for orphan in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        orphan.unlink(missing_ok=True)
    return path


def read_checkpoint_file(path: str | Path) -> dict:
    """The raw checkpoint dict, loaded safely (weights_only) and its weights checked against the
    stored digest: a clear one-line error if it is not a checkpoint or is damaged."""
    import torch

    path = checkpoint_file(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many kinds (pickle, zip, KeyError on text...)
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = next((line for line in lines if "error:" in line), lines[0] if lines else "")
        reason = reason[:120] or type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    return checked_raw(raw, path)


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint file `path` names (a run folder: its last.ckpt), or a CheckpointError."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.ckpt"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    return path


def checked_raw(raw: Any, path: Path) -> dict:
    """`raw` if it is a tunegen checkpoint dict whose weights match their stored digest."""
    if not isinstance(raw, dict) or not isinstance(raw.get("tunegen"), dict):
        raise CheckpointError(f"{path}: not a tunegen checkpoint")
    if not isinstance(raw.get("state_dict"), dict):
        raise CheckpointError(f"{path}: not a tunegen checkpoint (no weights)")
    stored = raw["tunegen"].get("weights_sha256")
    # checkpoints written before digests were stored (the bundled model among them) have none
    if stored is not None and stored != weights_digest(raw["state_dict"]):
        raise CheckpointError(f"{path}: damaged: its weights do not match their stored checksum")
    return raw


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Rebuild the model from a checkpoint file (or a run folder's last.ckpt) for inference."""
    return checkpoint_from_raw(read_checkpoint_file(path), Path(path))


def load_for_sampling(path: str | Path) -> Checkpoint:
    """A checkpoint to sample from: an ABC LSTM's weights as a NumpyLSTM, read without
    importing torch (about 2 s of a command's start); any other model, or a file that this
    reader does not take, as load_checkpoint loads it (with its errors). An LSTM's weights are
    laid out for stepping here (StepWeights), once per loaded model."""
    file = checkpoint_file(path)
    try:
        raw = checked_raw(read_torch_file(file), file)
        meta = raw["tunegen"]
        abc = meta.get("corpus", {}).get("kind", "abc") == "abc"
        if abc and meta.get("model", {}).get("kind", "lstm") == "lstm":
            checkpoint = checkpoint_from_raw(raw, Path(path), numpy=True)
            checkpoint.model.step_weights  # noqa: B018 -- laid out for sampling while loading
            return checkpoint
    except (Unreadable, TunegenError, AttributeError):
        pass  # torch reads it, or says what is wrong with it
    return load_checkpoint(path)


def checkpoint_from_raw(raw: dict, path: Path, numpy: bool = False) -> Checkpoint:
    """The model, vocabulary and metadata of a raw checkpoint dict; `path` names it in errors.
    `numpy`: an LSTM's weights as a NumpyLSTM, without torch (an LSTM checkpoint only)."""
    meta = raw["tunegen"]
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: made by a newer tunegen (format {version!r})")
    weights = {
        key.removeprefix(MODEL_PREFIX): value
        for key, value in raw["state_dict"].items()
        if key.startswith(MODEL_PREFIX)
    }
    try:
        if numpy:
            model = NumpyLSTM.from_state_dict(model_shape(meta["model"]), weights)
        else:
            model = build_model(meta["model"])
            model.load_state_dict(weights)
            model.eval()
        vocab = Vocabulary.from_dict(meta["vocab"])
        check_metadata(meta, vocab, model)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, TunegenError) as err:
        reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: metadata does not fit the weights ({reason})") from None
    meta = {**meta, "epochs": completed_epochs(raw), "global_step": raw.get("global_step", 0)}
    return Checkpoint(model, vocab, meta, Path(path))


def completed_epochs(raw: dict) -> int:
    """Whole epochs trained: stored by training; else Lightning's epoch index + 1 (older files)."""
    done = raw["tunegen"].get("epochs_completed")
    return done if isinstance(done, int) else raw.get("epoch", -1) + 1


def check_metadata(meta: dict, vocab: Vocabulary, model: nn.Module | NumpyLSTM) -> None:
    """ValueError if hand-edited metadata contradicts itself or the weights: the parts that
    generate, info and evaluate read must have the kinds they expect."""
    if len(vocab) != meta["model"].get("vocab_size", len(vocab)):
        raise ValueError(f"{len(vocab)} symbols but the model has {meta['model']['vocab_size']}")
    training, corpus = meta["training"], meta["corpus"]
    if not isinstance(training, dict) or not isinstance(corpus, dict):
        raise ValueError("training and corpus must be tables")
    for key in ("batch_size", "seq_len", "seed"):
        if type(training[key]) is not int:
            raise ValueError(f"training.{key} must be a whole number, got {training[key]!r}")
    if not isinstance(training["corpus"], list) or not all(
        isinstance(c, str) for c in training["corpus"]
    ):
        raise ValueError("training.corpus must be a list of sources")
    numbers = [("best_val_bpc", meta.get("best_val_bpc", 0.0)), ("training.lr", training["lr"])]
    numbers += [(f"corpus.{k}", corpus.get(k, 0)) for k in ("train_tunes", "val_tunes")]
    for name, value in numbers:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{name} must be a number, got {value!r}")
    if not 0 < float(training["val_fraction"]) < 1:
        raise ValueError(f"training.val_fraction {training['val_fraction']!r} is not in (0, 1)")
    sampling = meta.get("sampling", {})
    for name in ("temperature", "header_temperature"):
        value = sampling.get(name, 1.0)
        if not (isinstance(value, int | float) and 0 < value <= MAX_TEMPERATURE):
            raise ValueError(f"sampling.{name} {value!r} is not in (0, {MAX_TEMPERATURE}]")


def export_checkpoint(
    source: str | Path,
    dest: Path,
    half: bool = True,
    temperature: float | None = None,
    header_temperature: float | None = None,
) -> Path:
    """A compact copy of a checkpoint for sharing or bundling: the model's weights (in half
    precision unless `half` is False), vocabulary and configs, without optimizer or trainer state.
    `temperature`, if given, becomes the model's default sampling temperature, and
    `header_temperature` its default for a tune's header (metre, key, title) alone.

    The copy loads with load_checkpoint like any other (weights return to float32 on loading).
    """
    import torch

    raw = read_checkpoint_file(source)
    dtype = torch.float16 if half else torch.float32
    weights = {
        key: value.to(dtype) if value.is_floating_point() else value
        for key, value in raw["state_dict"].items()
        if key.startswith(MODEL_PREFIX)
    }
    meta = {k: v for k, v in raw["tunegen"].items() if k not in ("rng", "carry", "weights_sha256")}
    sampling = {}
    for name, value in (("temperature", temperature), ("header_temperature", header_temperature)):
        if value is None:
            continue
        if not 0 < value <= MAX_TEMPERATURE:
            raise SettingError(
                Setting(name), f" must be > 0 and at most {MAX_TEMPERATURE}, got {value}"
            )
        sampling[name] = value
    if sampling:
        meta["sampling"] = sampling
    compact = {
        "state_dict": weights,
        "tunegen": {**meta, "exported_from": str(source), "weights_dtype": str(dtype)},
        "epoch": raw.get("epoch", -1),
        "global_step": raw.get("global_step", 0),
    }
    checkpoint_from_raw(compact, dest)  # the copy must load before anything is written
    return write_checkpoint(compact, dest)
