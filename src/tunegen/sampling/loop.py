"""The one sampling loop for ABC and MIDI: a batch of rows stepped symbol by symbol, per-row rules.

Every row (one tune or piece) stops by itself: at the end symbol, at the symbol budget
(`capacity`), or when its rule says so (MIDI: its length in beats or events). A row's rule (see
`RowRule`) may mask what the row samples next, force a symbol, and send the row back to the start
of its bar or of its tune (grammar-aware ABC); rows without a rule are sampled freely.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from tunegen.models.stepping import Stepper
from tunegen.sampling.options import GumbelNoise, SamplingOptions, choose
from tunegen.sampling.rowstate import RowStates

# What a row does with this step's symbol (RowRule.accept).
KEEP = 0  # write it
MARK = 1  # write it; a bar starts with it: remember the row as it was before it
STOP = 2  # the row is complete without it (MIDI: it would start an onset beyond the length)
BACK = 3  # drop it; go back to the last MARK
RESTART = 4  # drop it; go back to the start of the tune (after the primer)


class Batch:
    """The rows being sampled: each row's written ids, position and last mark, and this step's
    logits [B, V] and noise [B, V]. Rules read it and may rewrite their own row."""

    def __init__(self, logits: np.ndarray, options: SamplingOptions, capacity: int) -> None:
        rows = len(logits)
        self.logits, self.options, self.capacity = logits, options, capacity
        self.noise = np.zeros_like(logits)
        self.out = np.zeros((rows, min(capacity, 256)), dtype=np.int64)  # grows as rows do
        self.pos = np.zeros(rows, dtype=np.int64)  # ids written per row (may pass capacity)
        self.mark_pos = np.zeros(rows, dtype=np.int64)  # where the last MARK's symbol went
        self.finished = np.zeros(rows, dtype=bool)
        self.stopped = np.zeros(rows, dtype=bool)  # ended by its rule or the end symbol
        self.steps = 0  # batch steps taken, those undone by BACK or RESTART included

    def written(self, row: int) -> np.ndarray:
        """The ids row `row` has written so far (at most `capacity`)."""
        return self.out[row, : min(self.pos[row], self.capacity)]

    def rewrite(self, row: int, ids: Sequence[int]) -> None:
        """Replace what row `row` has written with `ids` (at most `capacity` of them)."""
        self._room(len(ids))
        self.out[row, : len(ids)] = ids
        self.pos[row] = len(ids)

    def choose_again(self, row: int) -> int:
        """Row `row`'s choice from its logits as they are now (after a rule masked more), with
        this step's noise: no new random draws."""
        window = slice(row, row + 1)
        return int(choose(self.logits[window], self.options, self.noise[window])[0])

    def _room(self, width: int) -> None:
        width = min(width, self.capacity)
        if width > self.out.shape[1]:
            grown = np.zeros((len(self.out), min(2 * width, self.capacity)), dtype=np.int64)
            grown[:, : self.out.shape[1]] = self.out
            self.out = grown


class RowRule(Protocol):
    """The rules of one row, called for each step while the row is not finished."""

    done: bool  # True: nothing more to check; the row is sampled freely from now on

    def prepare(self, logits: np.ndarray) -> None:
        """Before the choice: mask what this row may not write, in place in `logits` [V]."""

    def accept(self, batch: Batch, row: int, chosen: int) -> tuple[int, int]:
        """After the choice: the action (KEEP, MARK, STOP, BACK, RESTART) and the id to write
        (`chosen`, or a symbol this rule forces)."""


def sample_rows(
    stepper: Stepper,
    options: SamplingOptions,
    primers: np.ndarray,
    rules: Sequence[RowRule | None],
    end_id: int,
    capacity: int,
    max_steps: int,
    never: Sequence[int] = (),
    rewind: bool = False,
) -> Batch:
    """Sample one row per primer (`primers` [B, L] ids, fed after the end symbol) as one batch.

    A row finishes at `end_id`, after `capacity` ids, or when its rule says STOP; the batch after
    `max_steps` steps. `never`: ids no row may draw. `rewind`: rows may go BACK or RESTART, so
    their states are kept at their marks (the stepper must support save_rows/restore_rows).
    One Gumbel noise draw [B, V] per step whatever the rows do, so each row's symbols depend only
    on the seed and on that row.
    """
    rows = len(primers)
    stepper.reset(rows)
    logits = stepper.step(np.full(rows, end_id))
    for column in primers.T:
        logits = stepper.step(column)
    noise = GumbelNoise(options.seed, logits.shape)
    batch = Batch(logits, options, capacity)
    rules = list(rules)
    everyone = np.arange(rows)
    if rewind:
        bar_states, tune_states = RowStates(stepper, rows), RowStates(stepper, rows)
        bar_states.save(everyone)
        tune_states.save(everyone)
        bar_logits, tune_logits = logits.copy(), logits.copy()
    actions = np.zeros(rows, dtype=np.int64)
    for _ in range(max_steps):
        batch.steps += 1
        active = np.flatnonzero(~batch.finished)
        ruled = []
        for row in active:
            rule = rules[row]
            if rule is not None and rule.done:
                rules[row] = rule = None
            if rule is not None:
                rule.prepare(logits[row])
                ruled.append(row)
        if never:
            logits[:, list(never)] = -np.inf
        batch.logits, batch.noise = logits, noise.next()
        ids = choose(logits, options, batch.noise)
        actions[active] = KEEP
        for row in ruled:
            actions[row], ids[row] = rules[row].accept(batch, row, ids[row])
        batch.finished[active[actions[active] == STOP]] = True
        batch.stopped[active[actions[active] == STOP]] = True
        writing = active[actions[active] <= MARK]
        batch._room(int(batch.pos[writing].max(initial=0)) + 1)
        room = writing[batch.pos[writing] < capacity]
        batch.out[room, batch.pos[room]] = ids[room]
        batch.pos[writing] += 1
        ended = writing[ids[writing] == end_id]
        batch.stopped[ended] = True
        batch.finished[ended] = True
        batch.finished[writing[batch.pos[writing] >= capacity]] = True
        marked = active[actions[active] == MARK]
        if len(marked):  # a bar starts with this step's symbol: keep the row as it was before it
            batch.mark_pos[marked] = batch.pos[marked] - 1
            bar_states.save(marked)
            bar_logits[marked] = logits[marked]
        back = active[actions[active] == BACK]
        batch.pos[back] = batch.mark_pos[back]
        restart = active[actions[active] == RESTART]
        batch.pos[restart] = batch.mark_pos[restart] = 0
        if batch.finished.all():
            break
        logits = stepper.step(ids)
        if len(back):
            bar_states.restore(back)
            logits[back] = bar_logits[back]
        if len(restart):
            tune_states.restore(restart)
            logits[restart] = tune_logits[restart]
            bar_states.save(restart)
            bar_logits[restart] = tune_logits[restart]
    batch.logits = logits
    return batch
