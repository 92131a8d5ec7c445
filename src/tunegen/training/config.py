"""How a run trains: TrainConfig, its bounds and checks, and presets resolved into configs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from tunegen.data.vocab import TOKENIZERS
from tunegen.errors import Setting, SettingError, UsageError
from tunegen.models import check_model_config, preset
from tunegen.music.midi import EventCodec
from tunegen.music.transpose import TargetKey, parse_target_keys

ACCELERATORS = ("auto", "cpu", "gpu")
# Documented bounds (README, "Limits"): a batch of 2^16 streams of 2^16 symbols is already far
# beyond one machine; epochs and seeds are bounded so Lightning and numpy accept them.
MODES = ("stateful", "tunes", "windows")  # how training batches the text (TrainConfig.mode)

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
    # "stateful" streams (truncated BPTT), the same streamed "tunes" by tune each from a fresh
    # state (an LSTM's), or random "windows"
    mode: str = "stateful"
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
            raise SettingError(Setting("tokenizer"), f" must be one of {', '.join(TOKENIZERS)}")
        if self.mode not in MODES:
            raise SettingError(
                Setting("mode"), f" must be one of {', '.join(MODES)}, got {self.mode!r}"
            )
        for name, high in INT_LIMITS.items():
            value, low = getattr(self, name), 0 if name == "seed" else 1
            if type(value) is not int or not low <= value <= high:
                raise SettingError(
                    Setting(name), f" must be a whole number in [{low}, {high}], got {value}"
                )
        if self.batch_size * self.seq_len > MAX_BATCH_SYMBOLS:
            raise SettingError(
                Setting("batch_size"),
                " x ",
                Setting("seq_len"),
                f" must be at most {MAX_BATCH_SYMBOLS:,} symbols, "
                f"got {self.batch_size} x {self.seq_len}",
            )
        # `not x > 0` also refuses NaN, which compares false with everything
        if not 0 < self.lr < 1e3:
            raise SettingError(Setting("lr"), f" must be > 0 and < 1000, got {self.lr}")
        if not 0 <= self.grad_clip < math.inf:
            raise SettingError(
                Setting("grad_clip"), f" must be >= 0 and finite, got {self.grad_clip}"
            )
        if self.max_minutes is not None and not 0 < self.max_minutes < math.inf:
            raise SettingError(
                Setting("max_minutes"), f" must be > 0 and finite, got {self.max_minutes}"
            )
        # past one half the model learns from fewer tunes than it is scored on
        if not 0 < self.val_fraction <= 0.5:
            raise SettingError(
                Setting("val_fraction"), f" must be in (0, 0.5], got {self.val_fraction}"
            )
        self._validate_devices()
        if self.transpose:
            self.target_keys  # noqa: B018 -- raises UsageError for a key it cannot read
            if self.transpose_all:
                raise SettingError(
                    Setting("transpose"), " and ", Setting("transpose_all"), ": choose one"
                )
            if self.corpus_kind == "midi":
                raise SettingError(
                    Setting("transpose"),
                    " KEYS is for ABC corpora (MIDI: ",
                    Setting("transpose_all"),
                    ")",
                )
        if self.corpus_kind == "midi":
            if self.keep_unclean:
                raise SettingError(Setting("keep_unclean"), " is for ABC corpora")
            self.midi_codec.validate()
            if self.tokenizer != "words":
                raise SettingError(
                    "MIDI is learnt as words: leave out ",
                    Setting("tokenizer"),
                    " with ",
                    Setting("midi"),
                )

    @property
    def target_keys(self) -> tuple[TargetKey, ...]:
        """The keys of `transpose`; SettingError naming the first key it cannot read."""
        try:
            return parse_target_keys(",".join(self.transpose))
        except ValueError as err:
            raise SettingError(Setting("transpose"), f": {err}") from None

    @property
    def midi_codec(self) -> EventCodec:
        """The codec that turns this run's MIDI pieces into words."""
        return EventCodec(self.codec, self.grid, self.parts)

    def _validate_devices(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise SettingError(Setting("accelerator"), f" must be one of {', '.join(ACCELERATORS)}")
        if self.devices != "auto" and not (
            isinstance(self.devices, int) and 1 <= self.devices <= MAX_PROCESSES
        ):
            raise SettingError(
                Setting("devices"),
                f" must be a number in [1, {MAX_PROCESSES}] or auto, got {self.devices!r}",
            )
        if not 1 <= self.num_nodes <= MAX_PROCESSES:
            raise SettingError(
                Setting("num_nodes"), f" must be in [1, {MAX_PROCESSES}], got {self.num_nodes}"
            )
        if self.precision not in PRECISIONS:
            raise SettingError(Setting("precision"), f" must be one of {', '.join(PRECISIONS)}")

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
    check_mode_fits(model_config, train)
    return model_config, train


def check_mode_fits(model_config: dict, train: TrainConfig) -> None:
    """SettingError unless the model can train in `train.mode`: "tunes" restarts an LSTM's state
    per row, which a Transformer's shared memory cannot do."""
    if train.mode == "tunes" and model_config.get("kind", "lstm") != "lstm":
        raise SettingError(
            Setting("mode"), f" tunes is for LSTM models, not {model_config.get('kind')}"
        )
