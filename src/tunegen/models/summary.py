"""A Keras-like model summary: layer, output shape and parameter count per layer."""

from __future__ import annotations

import torch
from torch import nn


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's top-level layers, with the elements of a ModuleList (Transformer blocks)."""
    layers = []
    for name, module in model.named_children():
        if isinstance(module, nn.ModuleList):
            layers += [(f"{name}.{i}", block) for i, block in enumerate(module)]
        elif any(True for _ in module.parameters()) or isinstance(module, nn.Dropout):
            layers.append((name, module))
    return layers


def model_summary(model: nn.Module) -> list[tuple[str, str, str, int]]:
    """Rows (name, type, output shape, parameters) from one forward pass on a [1, 1] input.

    A weight shared by two layers (a head tied to the embedding) is counted once, at its first.
    """
    layers = _layers(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for name, module in layers:

        def record(_module, _inputs, output, name=name):
            tensor = output[0] if isinstance(output, tuple) else output
            shapes[name] = tuple(tensor.shape)

        hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, dtype=torch.long))
    finally:
        for hook in hooks:
            hook.remove()
    seen: set[int] = set()

    def count(parameters) -> int:
        fresh = [p for p in parameters if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        return sum(p.numel() for p in fresh)

    rows = []
    for name, module in layers:
        shape = "(batch, time, " + ", ".join(str(d) for d in shapes.get(name, ())[2:]) + ")"
        if isinstance(module, nn.LSTM):
            for layer in range(module.num_layers):
                own = [p for n, p in module.named_parameters() if n.endswith(f"_l{layer}")]
                rows.append((f"{name}.{layer}", "LSTM", shape, count(own)))
        else:
            rows.append((name, type(module).__name__, shape, count(module.parameters())))
    return rows


def format_summary(rows: list[tuple[str, str, str, int]]) -> str:
    """The rows as an aligned text table with a total."""
    lines = [f"{'layer':<14}{'type':<12}{'output shape':<26}{'params':>12}", "-" * 64]
    lines += [f"{n:<14}{t:<12}{s:<26}{p:>12,}" for n, t, s, p in rows]
    lines += ["-" * 64, f"{'total':<52}{sum(r[3] for r in rows):>12,}"]
    return "\n".join(lines)
