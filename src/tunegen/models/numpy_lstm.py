"""The LSTM's shape, and its weights as numpy arrays for sampling on a CPU without torch.

`LSTMConfig` is the shape that checkpoints store; `NumpyLSTM` holds a trained model's weights
under their `LSTMModel` names, checked against that shape as `load_state_dict` checks them. The
numpy stepper (`tunegen.models.stepping`) samples from either; `tunegen generate` reads an ABC
LSTM checkpoint straight into a `NumpyLSTM` (`tunegen.models.checkpoint.load_for_sampling`), so a
user's command never waits for torch to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tunegen.models.lstm import LSTMModel


@dataclass(frozen=True)
class LSTMConfig:
    """Shape of an LSTM model; `vocab_size` is filled in from the corpus."""

    vocab_size: int
    embedding_size: int = 512
    hidden_size: int = 256
    num_layers: int = 3
    dropout: float = 0.2
    head_size: int = 0  # a Dense layer of this size before the output (seed003's 256); 0: none
    kind: str = "lstm"

    def to_dict(self) -> dict:
        return asdict(self)


def weight_shapes(config: LSTMConfig) -> dict[str, tuple[int, ...]]:
    """Every weight of an LSTMModel of this shape: its state-dict name and shape."""
    vocab, size = config.vocab_size, config.hidden_size
    shapes = {"embedding.weight": (vocab, config.embedding_size)}
    for layer in range(config.num_layers):
        inputs = config.embedding_size if layer == 0 else size
        shapes[f"lstm.weight_ih_l{layer}"] = (4 * size, inputs)
        shapes[f"lstm.weight_hh_l{layer}"] = (4 * size, size)
        shapes[f"lstm.bias_ih_l{layer}"] = (4 * size,)
        shapes[f"lstm.bias_hh_l{layer}"] = (4 * size,)
    if config.head_size:
        shapes["dense.weight"] = (config.head_size, size)
        shapes["dense.bias"] = (config.head_size,)
    shapes["head.weight"] = (vocab, config.head_size or size)
    shapes["head.bias"] = (vocab,)
    return shapes


@dataclass(frozen=True)
class NumpyLSTM:
    """An LSTM language model's weights as float32 arrays, by their `LSTMModel` names."""

    config: LSTMConfig
    weights: Mapping[str, np.ndarray]

    @classmethod
    def from_state_dict(cls, config: LSTMConfig, state: Mapping[str, np.ndarray]) -> NumpyLSTM:
        """The weights in `state` (any float dtype), or a ValueError naming the first that is
        missing, unexpected or of the wrong shape for `config`."""
        shapes = weight_shapes(config)
        for name in sorted(set(shapes) | set(state)):
            if name not in state:
                raise ValueError(f"missing weight {name}")
            if name not in shapes:
                raise ValueError(f"unexpected weight {name}")
            value = state[name]
            if not isinstance(value, np.ndarray) or value.shape != shapes[name]:
                shape = getattr(value, "shape", type(value).__name__)
                raise ValueError(f"{name} has shape {shape}, the model needs {shapes[name]}")
        weights = {name: np.asarray(state[name], dtype=np.float32) for name in shapes}
        return cls(config, weights)

    @classmethod
    def from_model(cls, model: LSTMModel) -> NumpyLSTM:
        """A torch LSTMModel's weights (converted to float32 as `Tensor.float()` does)."""
        state = {name: value.detach().float().cpu().numpy() for name, value in
                 model.state_dict().items()}  # fmt: skip
        return cls.from_state_dict(model.config, state)

    def layer_weights(self, layer: int) -> tuple[np.ndarray, ...]:
        """Layer `layer`'s (W_ih [4H, in], W_hh [4H, H], b_ih [4H], b_hh [4H]), gates in
        PyTorch's order i, f, g, o (as LSTMModel.layer_weights)."""
        names = ("weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l")
        return tuple(self.weights[f"lstm.{name}{layer}"] for name in names)
