"""Per-row snapshots of a sampler's model state, so that one tune of a batch can step back alone."""

from __future__ import annotations

import numpy as np

from tunegen.models.stepping import SavedRows, Stepper


class RowStates:
    """One slot of saved row states of a batch (a row = one tune), e.g. each row's state at the
    start of its current bar: `save(rows)` overwrites those rows' entries, `restore(rows)` puts
    them back into the stepper (see Stepper.save_rows and restore_rows)."""

    def __init__(self, stepper: Stepper, batch: int) -> None:
        self.stepper, self.batch = stepper, batch
        self.saved: SavedRows | None = None

    def save(self, rows: np.ndarray) -> None:
        """Remember the current state of `rows` (an index array)."""
        self.saved = self.stepper.save_rows(rows, self.saved)

    def restore(self, rows: np.ndarray) -> None:
        """Put `rows` back into the state last saved for them."""
        self.stepper.restore_rows(rows, self.saved)
