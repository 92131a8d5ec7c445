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
from functools import cached_property
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

    @cached_property
    def step_weights(self) -> StepWeights:
        """The weights laid out for one-symbol steps (NumpyLSTMStepper), made once per model:
        a batch's stepper, and every chunk of a long `generate`, share them."""
        return StepWeights.from_model(self)


@dataclass(frozen=True)
class StepWeights:
    """An LSTM's weights as the numpy stepper multiplies them, all float32 and C-contiguous,
    laid out for a state of one column per row (see NumpyLSTMStepper): W @ [x; h].

    The first layer's input projection is folded into a [V, 4H] table: embedding @ W_ih plus
    both biases. Upper layers multiply the stacked [W_ih, W_hh] [4H, 2H] by [x; h]. The i, f
    and o gates' weights and biases are halved, because sigmoid(z) = tanh(z / 2) / 2 + 1/2 lets
    one tanh serve all four gates; halving is exact in floating point, so the logits are bit for
    bit those of the unhalved products. A linear Dense [D, H] before the output is folded into
    the head [V, H].
    """

    table: np.ndarray  # [V, 4H]
    table_columns: np.ndarray  # the table transposed, [4H, V]
    w_hh0: np.ndarray  # [4H, H]
    w_upper: list[np.ndarray]  # per upper layer [4H, 2H]
    b_upper: list[np.ndarray]  # per upper layer [4H, 1]
    head_w: np.ndarray  # [V, H]
    head_b: np.ndarray  # [V, 1]

    @classmethod
    def from_model(cls, model: NumpyLSTM) -> StepWeights:
        weights = [model.layer_weights(i) for i in range(model.config.num_layers)]
        w_ih0, w_hh0, b_ih0, b_hh0 = weights[0]
        size = model.config.hidden_size
        half = np.full(4 * size, 0.5, dtype=np.float32)
        half[2 * size : 3 * size] = 1.0  # g keeps its tanh
        arrays = model.weights
        head_w, head_b = arrays["head.weight"], arrays["head.bias"]  # [V, H or D], [V]
        if model.config.head_size:
            dense_w, dense_b = arrays["dense.weight"], arrays["dense.bias"]
            head_w, head_b = head_w @ dense_w, head_w @ dense_b + head_b
        table = (arrays["embedding.weight"] @ w_ih0.T + b_ih0 + b_hh0) * half
        return cls(
            table=table,
            table_columns=np.ascontiguousarray(table.T),
            w_hh0=w_hh0 * half[:, None],
            w_upper=[np.concatenate([w[0], w[1]], 1) * half[:, None] for w in weights[1:]],
            b_upper=[((w[2] + w[3]) * half)[:, None] for w in weights[1:]],
            head_w=np.ascontiguousarray(head_w),
            head_b=np.ascontiguousarray(head_b[:, None]),
        )
