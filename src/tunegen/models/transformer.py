"""Decoder-only Transformer language model with rotary positions and a sliding key/value memory.

The memory makes it a drop-in for the LSTM everywhere a state is carried: `forward(ids, state)`
attends over the previous chunk's keys and values (at most `context` of them, Transformer-XL
style), so stateful training streams, validation and one-symbol-at-a-time sampling all work the
same way. Positions are rotary (relative), so the memory can slide without recomputation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

Memory = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), each [B, heads, L, d]


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of a Transformer model; `vocab_size` is filled in from the corpus."""

    vocab_size: int
    d_model: int = 192
    num_heads: int = 4
    num_layers: int = 4
    context: int = 256  # keys and values kept from earlier symbols
    dropout: float = 0.0
    kind: str = "transformer"

    def __post_init__(self) -> None:
        if self.d_model % (2 * self.num_heads):
            raise ValueError("d_model must be a multiple of 2 x num_heads (rotary halves)")

    def to_dict(self) -> dict:
        return asdict(self)


class Rotary(nn.Module):
    """Rotary position angles (cos, sin) for positions 0..n-1, cached at the largest n seen."""

    def __init__(self, head_size: int) -> None:
        super().__init__()
        inverse = 1.0 / 10000 ** (torch.arange(0, head_size, 2).float() / head_size)
        self.register_buffer("inverse", inverse, persistent=False)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if (
            self._cache is None
            or len(self._cache[0]) < n
            or self._cache[0].device != self.inverse.device
        ):
            angles = torch.arange(max(n, 512), device=self.inverse.device)[:, None] * self.inverse
            self._cache = (angles.cos(), angles.sin())
        return self._cache[0][:n], self._cache[1][:n]


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of features of x [..., T, d] by the angles of positions [T, d/2]."""
    first, second = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class Block(nn.Module):
    """Pre-norm block: causal self-attention over memory + chunk, then a 4x GELU MLP."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.heads, self.p = config.num_heads, config.dropout
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: tuple[torch.Tensor, torch.Tensor] | None,
        rotary: Rotary,
        keep: int,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        batch, length, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, heads, T, head size]
        if memory is not None:
            k, v = torch.cat([memory[0], k], dim=2), torch.cat([memory[1], v], dim=2)
        past = k.shape[2] - length
        cos, sin = rotary(past + length)  # keys are kept unrotated: positions are relative
        q, rotated_k = rotate(q, cos[past:], sin[past:]), rotate(k, cos, sin)
        # query i (at position past + i) sees keys 0 .. past + i
        mask = (
            None
            if past == 0
            else torch.ones(length, past + length, dtype=torch.bool, device=x.device).tril(past)
        )
        attended = F.scaled_dot_product_attention(
            q,
            rotated_k,
            v,
            attn_mask=mask,
            is_causal=past == 0,
            dropout_p=self.p if self.training else 0.0,
        )
        x = x + self.dropout(self.proj(attended.transpose(1, 2).reshape(batch, length, d)))
        x = x + self.dropout(self.mlp(self.norm2(x)))
        return x, (k[:, :, -keep:], v[:, :, -keep:])


class TransformerModel(nn.Module):
    """Embedding -> Block x N -> LayerNorm -> Linear tied to the embedding."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.num_layers))
        self.rotary = Rotary(config.d_model // config.num_heads)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.embedding.weight
        self.apply(_init_weights)

    def initial_state(self, batch_size: int) -> Memory | None:
        """No memory yet: the first chunk attends only to itself."""
        return None

    def forward(
        self, ids: torch.Tensor, state: Memory | None = None, keep: int | None = None
    ) -> tuple[torch.Tensor, Memory]:
        """ids [B, T] -> logits [B, T, V] and the last `keep` (default: context) keys/values."""
        x = self.embedding(ids)
        memory: Memory = []
        for layer, block in enumerate(self.blocks):
            memory_in = None if state is None else state[layer]
            x, kept = block(x, memory_in, self.rotary, keep or self.config.context)
            memory.append(kept)
        return self.head(self.norm(x)), memory

    def step(self, ids: torch.Tensor, state: Memory | None) -> tuple[torch.Tensor, Memory]:
        """One sampling step: ids [B] -> logits [B, V], attending over the memory.

        In training, a chunk's queries see the previous chunk's `context` keys and their own, so
        spans range from `context` to twice that; sampling keeps a sliding span of twice `context`.
        """
        logits, memory = self(ids[:, None], state, keep=2 * self.config.context)
        return logits[:, 0], memory


def _init_weights(module: nn.Module) -> None:
    """GPT-2's initialisation: normal(0, 0.02) weights, zero biases."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
