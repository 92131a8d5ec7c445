"""Quantised notes -> a piano-roll PNG (matplotlib): time across, pitch up, one bar per note."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tunegen.runtime.fileio import write_atomically


def write_piano_roll(notes: np.ndarray, grid: int, path: Path, title: str = "") -> None:
    """Draw notes [N, 3] (onset, pitch, duration in steps of 1/grid quarter) to a PNG file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(10, 3.5))
    for onset, pitch, duration in notes:
        axis.broken_barh([(onset / grid, duration / grid)], (pitch - 0.4, 0.8), color="C0")
    if len(notes):
        low, high = int(notes[:, 1].min()), int(notes[:, 1].max())
        end = float((notes[:, 0] + notes[:, 2]).max()) / grid
        axis.set(ylim=(low - 2, high + 2), xlim=(0, end))
    axis.set(xlabel="quarter notes", ylabel="MIDI pitch", title=title)
    axis.grid(alpha=0.3)
    fig.tight_layout()
    write_atomically(path, lambda partial: fig.savefig(partial, dpi=100, format="png"))
    plt.close(fig)
