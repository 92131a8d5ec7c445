"""Model registry: presets (model shape + training defaults) and construction from a config dict.

Importing it does not import torch (`tunegen generate` samples an LSTM in numpy, see
`tunegen.models.numpy_lstm`); building a model does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunegen.errors import Setting, SettingError, UsageError

if TYPE_CHECKING:
    from torch import nn

# Each preset: the model shape and the training settings of the write-up it comes from.
PRESETS: dict[str, dict] = {
    # The Nottingham char-RNN: Embedding 512, 3 x stateful LSTM(256), Dropout 0.2, 16 x 64 streams.
    "seed": {
        "model": {"embedding_size": 512, "hidden_size": 256, "num_layers": 3, "dropout": 0.2},
        "training": {"mode": "stateful", "batch_size": 16, "seq_len": 64, "lr": 1e-3},
    },
    # MIT 6.S191: Embedding 256, 1 x LSTM(1024), random 100-character windows, batch 32, lr 5e-3.
    "mit": {
        "model": {"embedding_size": 256, "hidden_size": 1024, "num_layers": 1, "dropout": 0.0},
        "training": {"mode": "windows", "batch_size": 32, "seq_len": 100, "lr": 5e-3},
    },
    # Best held-out bits per character per CPU minute among the shapes measured (README,
    # benchmarks/RESULTS.md): after 8 minutes on one core on oneills1850+ryansMammoth+airdsAirs,
    # 1.814 val bits/char (1.812 with ABC tokens: a tie), against 1.961 for 1 x 512, 2.001 for
    # `seed` and 2.358 for the `transformer` preset.
    "default": {
        "model": {"embedding_size": 32, "hidden_size": 256, "num_layers": 1, "dropout": 0.0},
        "training": {"mode": "stateful", "batch_size": 64, "seq_len": 128, "lr": 5e-3},
    },
    # A small decoder-only Transformer with a sliding memory, trained on streams like the LSTM.
    "transformer": {
        "model": {
            "kind": "transformer",
            "d_model": 192,
            "num_heads": 4,
            "num_layers": 4,
            "context": 128,
            "dropout": 0.0,
        },
        "training": {"mode": "stateful", "batch_size": 32, "seq_len": 128, "lr": 1e-3},
    },
    # The seed003 Keras write-up (piano MIDI): 3 x LSTM(512), dropout 0.3, Dense(256), windows
    # of 100 events. It feeds each event as one scaled number; an embedding of 64 stands in.
    "seed003": {
        "model": {
            "embedding_size": 64,
            "hidden_size": 512,
            "num_layers": 3,
            "dropout": 0.3,
            "head_size": 256,
        },
        "training": {
            "mode": "windows",
            "batch_size": 64,
            "seq_len": 100,
            "lr": 1e-3,
            "tokenizer": "words",
        },
    },
    # MIDI event words (tunegen train --midi); see the README's MIDI section for the shapes tried.
    "midi": {
        "model": {"embedding_size": 64, "hidden_size": 256, "num_layers": 1, "dropout": 0.0},
        "training": {
            "mode": "stateful",
            "batch_size": 32,
            "seq_len": 128,
            "lr": 5e-3,
            "tokenizer": "words",
        },
    },
}


def model_kinds() -> dict[str, tuple[type, type]]:
    """Each kind of model: its config class and its nn.Module class (imports torch)."""
    from tunegen.models.lstm import LSTMConfig, LSTMModel
    from tunegen.models.transformer import TransformerConfig, TransformerModel

    return {
        "lstm": (LSTMConfig, LSTMModel),
        "transformer": (TransformerConfig, TransformerModel),
    }


def preset(name: str) -> dict:
    """The preset called `name`, or a UsageError listing the known ones."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


# Documented bounds of the model shape (README, "Limits"): beyond them a model cannot be trained
# on one machine, and a hand-edited checkpoint cannot ask for terabytes.
SIZE_LIMITS = {
    "vocab_size": 2**20,
    "embedding_size": 2**14,
    "hidden_size": 2**14,
    "num_layers": 64,
    "d_model": 2**14,
    "num_heads": 256,
    "context": 2**16,
    "head_size": 2**14,
}


def check_model_config(config: dict) -> None:
    """SettingError naming the setting for a size out of its bounds or a dropout outside [0, 1)."""
    for name, value in config.items():
        if name == "dropout":
            if not isinstance(value, int | float) or not 0 <= value < 1:
                raise SettingError(Setting(name), f" must be in [0, 1), got {value}")
        elif name in SIZE_LIMITS:
            low = 0 if name == "head_size" else 1
            if type(value) is not int or not low <= value <= SIZE_LIMITS[name]:
                raise SettingError(
                    Setting(name),
                    f" must be a whole number in [{low}, {SIZE_LIMITS[name]}], got {value}",
                )


def model_shape(config: dict) -> Any:
    """The config dataclass of a config dict (as stored in checkpoints): an LSTMConfig without
    importing torch, a TransformerConfig; a SettingError names a setting that does not apply or
    is out of its bounds."""
    kind = config.get("kind", "lstm")
    if kind == "lstm":
        from tunegen.models.numpy_lstm import LSTMConfig as config_class
    elif kind == "transformer":
        from tunegen.models.transformer import TransformerConfig as config_class
    else:
        raise UsageError(f"unknown model kind {kind!r}")
    known = set(config_class.__dataclass_fields__)
    unknown = sorted(set(config) - known)
    if unknown:
        parts = [part for name in unknown for part in (", ", Setting(name))][1:]
        raise SettingError(*parts, f" does not apply to a {kind} model")
    check_model_config(config)
    try:
        return config_class(**config)
    except ValueError as err:  # e.g. a Transformer width that the heads do not divide
        raise UsageError(str(err)) from None


def build_model(config: dict) -> nn.Module:
    """A model from its config dict (as stored in checkpoints)."""
    shape = model_shape(config)
    return model_kinds()[shape.kind][1](shape)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
