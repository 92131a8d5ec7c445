"""A Keras-like model summary: layer, output shape and parameter count per layer."""

from __future__ import annotations

import torch
from torch import nn


def model_summary(model: nn.Module) -> list[tuple[str, str, str, int]]:
    """Rows (name, type, output shape, parameters) from one forward pass on a [1, 1] input."""
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for name, module in model.named_children():

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
    rows = []
    for name, module in model.named_children():
        shape = "(batch, time, " + ", ".join(str(d) for d in shapes.get(name, ())[2:]) + ")"
        if isinstance(module, nn.LSTM):
            for layer in range(module.num_layers):
                params = sum(
                    p.numel() for n, p in module.named_parameters() if n.endswith(f"_l{layer}")
                )
                rows.append((f"{name}.{layer}", "LSTM", shape, params))
        else:
            rows.append(
                (name, type(module).__name__, shape, sum(p.numel() for p in module.parameters()))
            )
    return rows


def format_summary(rows: list[tuple[str, str, str, int]]) -> str:
    """The rows as an aligned text table with a total."""
    lines = [f"{'layer':<14}{'type':<12}{'output shape':<26}{'params':>12}", "-" * 64]
    lines += [f"{n:<14}{t:<12}{s:<26}{p:>12,}" for n, t, s, p in rows]
    lines += ["-" * 64, f"{'total':<52}{sum(r[3] for r in rows):>12,}"]
    return "\n".join(lines)
