"""A resumed run's settings: everything from the checkpoint, the command line only where allowed."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from tunegen.errors import CheckpointError, Setting, SettingError, UsageError
from tunegen.training.config import TrainConfig

# What a resumed run may change: how long it trains and where it runs, nothing that shapes the
# model, its data or its optimizer (so the resumed steps are the ones the first run would take).
RESUME_MAY_CHANGE = (
    "epochs",
    "max_minutes",
    "devices",
    "checkpoint_every",
    "accelerator",
    "num_nodes",
)


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "+".join(str(v) for v in value)
    return str(value)


def saved_config(meta: Mapping, source: str) -> TrainConfig:
    """The TrainConfig stored in a checkpoint's metadata; CheckpointError if it was damaged."""
    try:
        config = TrainConfig.from_dict(dict(meta["training"]))
        config.validate()
    except (KeyError, TypeError, ValueError, UsageError) as err:
        raise CheckpointError(f"{source}: damaged training settings ({err})") from None
    return config


def merge_with_checkpoint(
    meta: Mapping,
    given: Mapping[str, Any],
    model_given: Mapping[str, Any] | None = None,
    may_change: Collection[str] = RESUME_MAY_CHANGE,
    source: str = "the checkpoint",
) -> tuple[TrainConfig, list[str]]:
    """The checkpoint's TrainConfig with the options the user gave again applied.

    `given` holds only the TrainConfig fields named on the command line (preset and corpus
    included), `model_given` the model-shape options. A value equal to the checkpoint's is fine;
    a different one is a UsageError unless its field is in `may_change`, in which case it is
    applied and a note says so. Returns (config, notes); a note is (setting, what changed), for
    the caller to name the setting its own way. `train --init` (fine-tuning) calls this
    with its own `may_change`.
    """
    config = saved_config(meta, source)
    saved_model = meta.get("model", {})
    for name, value in (model_given or {}).items():
        if saved_model.get(name) != value:
            raise SettingError(
                Setting(name),
                f" {value} contradicts {source} (trained with "
                f"{saved_model.get(name)}); a resumed model keeps its shape",
            )
    changes: dict[str, Any] = {}
    notes: list[tuple[str, str]] = []
    for name, value in given.items():
        if name not in TrainConfig.__dataclass_fields__:
            raise SettingError(Setting(name), " is not a training setting")
        old = getattr(config, name)
        same = tuple(value) == tuple(old) if name == "corpus" else value == old
        if same:
            continue
        if name not in may_change and name != "batch_size":  # batch: see _same_layout below
            raise SettingError(
                Setting(name),
                f" {_shown(value)} contradicts {source} (trained with "
                f"{_shown(old)}); leave it out to resume, or start a new run with ",
                Setting("out"),
            )
        changes[name] = value
        notes.append((name, f": {_shown(value)} (the checkpoint had {_shown(old)})"))
    merged = replace(config, **changes)
    if "batch_size" in changes and not _same_layout(config, merged):
        raise SettingError(
            Setting("batch_size"),
            f" {merged.batch_size} contradicts {source} (trained with "
            f"{config.batch_size} per process on {_processes(config)} processes); leave it out "
            "to resume, or keep batch size x processes the same with another ",
            Setting("devices"),
        )
    merged.validate()
    return merged, notes


def _processes(config: TrainConfig) -> int | None:
    """Processes of a run, or None where Lightning counts them (--devices auto)."""
    return config.devices * config.num_nodes if isinstance(config.devices, int) else None


def _same_layout(old: TrainConfig, new: TrainConfig) -> bool:
    """Whether the run's streams stay the same: W processes of batch B lay the text out as one
    process of batch B x W (see StatefulBatches), so a run may move to other devices with
    batch x processes kept."""
    before, after = _processes(old), _processes(new)
    return (
        before is not None
        and after is not None
        and old.batch_size * before == (new.batch_size * after)
    )
