"""A training run planned from the options a user gave: preset, corpus kind, resume or fine-tune,
the model and training configs and the run folder, ready for trainer.train."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tunegen.errors import Setting, SettingError
from tunegen.models import model_kinds
from tunegen.training.config import TrainConfig, resolve_configs
from tunegen.training.finetune import InitialModel, finetune_configs, read_initial_model
from tunegen.training.resume import merge_with_checkpoint
from tunegen.training.trainer import check_run_dir

# The model-shape settings of every model kind (what a preset's "model" table may hold).
MODEL_SETTINGS = tuple(
    dict.fromkeys(
        f.name
        for config_class, _ in model_kinds().values()
        for f in fields(config_class)
        if f.name not in ("vocab_size", "kind")
    )
)
# Settings of the corpus' form, not of its kind: they only mean something for MIDI pieces.
MIDI_SETTINGS = ("parts", "grid", "codec")
# Training settings a user never gives: they follow from the sources (abc or midi).
DERIVED_SETTINGS = ("preset", "corpus", "corpus_kind")
DEFAULT_CORPUS = ("oneills1850",)


@dataclass
class RunPlan:
    """What trainer.train needs to start, resume or fine-tune a run, and what to tell the user."""

    model_config: dict
    config: TrainConfig
    run_dir: Path
    resume: Path | None = None
    init: InitialModel | None = None
    # (setting, what changed) for each setting a resumed run changes (resume.merge_with_checkpoint)
    notes: list[tuple[str, str]] = field(default_factory=list)


def chosen_settings(options: Mapping[str, Any]) -> tuple[dict, dict]:
    """(training settings, model settings) among `options` that were given (not None).

    `options` holds parsed options by setting name (the CLI's namespace as a dict); only the
    names of TrainConfig fields and model-shape keys are read, so nothing is copied by hand.
    """
    names = [f.name for f in fields(TrainConfig) if f.name not in DERIVED_SETTINGS]
    training = {name: options[name] for name in names if options.get(name) is not None}
    devices = training.get("devices")
    if isinstance(devices, str) and devices.isdigit():  # a count, or "auto"
        training["devices"] = int(devices)
    model = {name: options[name] for name in MODEL_SETTINGS if options.get(name) is not None}
    return training, model


def plan_run(options: Mapping[str, Any]) -> RunPlan:
    """The run that `options` ask for, with its folder checked (and, with `force`, cleared).

    Besides the settings (see chosen_settings) `options` may hold: abc or midi (sources),
    preset, out (the run folder), resume (a checkpoint or run folder), force, and init (a
    checkpoint to fine-tune, or "bundled"). Contradictions are SettingErrors naming settings.
    """
    training, model = chosen_settings(options)
    abc, midi = options.get("abc"), options.get("midi")
    if options.get("init") is not None:
        return _plan_finetune(options, training, model)
    midi_only = [name for name in MIDI_SETTINGS if name in training]
    if midi:
        training = {"corpus_kind": "midi", "tokenizer": "words", **training}
    elif midi_only:
        raise SettingError(Setting(midi_only[0]), " is for MIDI corpora (", Setting("midi"), ")")
    if abc or midi:
        training["corpus"] = tuple(midi or abc)
    resume = options.get("resume")
    if resume is not None and Path(resume).is_dir():
        resume = Path(resume) / "last.ckpt"
    notes: list[tuple[str, str]] = []
    preset = options.get("preset")
    if resume is not None:
        resume = Path(resume)
        model_config, config, notes = resumed_configs(resume, preset, training, model)
    else:
        preset = preset or ("midi" if midi else "default")
        model_config, config = resolve_configs(
            preset, model, {"corpus": DEFAULT_CORPUS, **training}
        )
    out = options.get("out")
    default = Path("runs") / f"{corpus_name(midi or abc or DEFAULT_CORPUS)}-{preset}"
    run_dir = Path(out) if out else (resume.parent if resume else default)
    if resume is None or run_dir.resolve() != resume.parent.resolve():
        check_run_dir(run_dir, bool(options.get("force")))
    return RunPlan(model_config, config, run_dir, resume, notes=notes)


def _plan_finetune(options: Mapping[str, Any], training: dict, model: dict) -> RunPlan:
    """`init`: a new run from a model's weights, on the user's tunes (finetune.py)."""
    abc, midi, init_spec = options.get("abc"), options.get("midi"), options["init"]
    if options.get("resume") is not None:
        raise SettingError(
            Setting("init"), " starts a new run; continue a fine-tuning run with ",
            Setting("resume"), " alone",
        )  # fmt: skip
    if not (abc or midi):
        raise SettingError(
            Setting("init"), " needs your tunes: ", Setting("abc"), " SOURCE... or ",
            Setting("midi"), " SOURCE...",
        )  # fmt: skip
    init = read_initial_model(init_spec)
    if midi:
        training.update(corpus_kind="midi", tokenizer=training.get("tokenizer", "words"))
    elif any(name in training for name in MIDI_SETTINGS):
        raise SettingError(
            Setting("parts"), ", ", Setting("grid"), " and ", Setting("codec"), " are for ",
            Setting("midi"),
        )  # fmt: skip
    overrides = {**training, "corpus": tuple(midi or abc)}
    if options.get("preset") is not None:
        overrides["preset"] = options["preset"]
    model_config, config = finetune_configs(init, model, overrides)
    out = options.get("out")
    default = Path("runs") / f"{corpus_name(midi or abc)}-from-{Path(str(init_spec)).stem}"
    run_dir = Path(out) if out else default
    check_run_dir(run_dir, bool(options.get("force")))
    return RunPlan(model_config, config, run_dir, init=init)


def resumed_configs(
    resume: Path, preset: str | None, training: Mapping[str, Any], model: Mapping[str, Any]
) -> tuple[dict, TrainConfig, list[tuple[str, str]]]:
    """(model config, TrainConfig, notes) of the checkpoint, with the settings that may change."""
    from tunegen.models.checkpoint import checkpoint_from_raw, read_checkpoint_file

    raw = read_checkpoint_file(resume)
    meta = checkpoint_from_raw(raw, resume).meta  # hand-edited metadata is refused here
    given = {**({"preset": preset} if preset else {}), **training}
    config, notes = merge_with_checkpoint(meta, given, model, source=str(resume))
    model_config = {k: v for k, v in meta["model"].items() if k != "vocab_size"}
    return model_config, config, notes


def corpus_name(sources: Sequence[str]) -> str:
    """A run folder's name for its sources: their stems joined with +, at most 40 characters."""
    return "+".join(Path(spec).stem or "corpus" for spec in sources)[:40]
