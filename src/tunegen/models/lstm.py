"""Character LSTM language model: Embedding -> LSTM layers -> Linear, with a fast one-step path."""

from __future__ import annotations

import torch
from torch import nn

from tunegen.models.numpy_lstm import LSTMConfig

LSTMState = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (h, c), each [B, H]


class LSTMModel(nn.Module):
    """Embedding(V, E) -> LSTM(H) x N, dropout after each layer (as in the seed) -> Linear(V).

    With `head_size` D > 0: ... -> Linear(D) -> dropout -> Linear(V), the seed003 write-up's
    Dense(256) with no activation between it and the output layer.
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.lstm = nn.LSTM(
            config.embedding_size,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        if config.head_size:  # no attribute otherwise: older checkpoints load unchanged
            self.dense = nn.Linear(config.hidden_size, config.head_size)
        self.head = nn.Linear(config.head_size or config.hidden_size, config.vocab_size)

    def initial_state(self, batch_size: int) -> LSTMState:
        """Zero hidden and cell states for `batch_size` streams."""
        zeros = torch.zeros(batch_size, self.config.hidden_size, device=self.head.weight.device)
        return [(zeros, zeros) for _ in range(self.config.num_layers)]

    def forward(
        self, ids: torch.Tensor, state: LSTMState | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """ids [B, T] -> logits [B, T, V] and the state after the last step."""
        packed = None
        if state is not None:
            h = torch.stack([layer[0] for layer in state])  # [N, B, H]
            c = torch.stack([layer[1] for layer in state])
            packed = (h, c)
        out, (h, c) = self.lstm(self.embedding(ids), packed)  # out [B, T, H]
        logits = self.head(self._dense(self.dropout(out)))
        return logits, list(zip(h.unbind(0), c.unbind(0), strict=True))

    def step(self, ids: torch.Tensor, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        """One sampling step: ids [B] -> logits [B, V]; one fused lstm_cell call per layer.

        nn.LSTM on a length-1 sequence costs several times more per call on CPU than the cell
        kernels, and per-step overhead is what limits sampling at small batch sizes.
        """
        x = self.embedding(ids)  # [B, E]
        new_state: LSTMState = []
        for layer, (h, c) in enumerate(state):
            h, c = torch.lstm_cell(x, (h, c), *self.layer_weights(layer))
            new_state.append((h, c))
            x = h
        return self.head(self._dense(x)), new_state

    def _dense(self, x: torch.Tensor) -> torch.Tensor:
        """The optional Dense layer and its dropout: [..., H] -> [..., D]; identity without."""
        return self.dropout(self.dense(x)) if self.config.head_size else x

    def layer_weights(self, layer: int) -> tuple[torch.Tensor, ...]:
        """Layer `layer`'s (W_ih [4H, in], W_hh [4H, H], b_ih [4H], b_hh [4H]), gates in
        PyTorch's order i, f, g, o: what torch.lstm_cell and the numpy stepper take."""
        names = ("weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l")
        return tuple(getattr(self.lstm, f"{name}{layer}") for name in names)
