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

    def __init__(
        self, logits: np.ndarray, options: SamplingOptions, capacity: int, end_id: int
    ) -> None:
        rows = len(logits)
        self.logits, self.options, self.capacity, self.end_id = logits, options, capacity, end_id
        self.noise = np.zeros_like(logits)
        # grows as rows do; one column past capacity takes the end symbol after a rewrite
        self.out = np.zeros((rows, min(capacity + 1, 256)), dtype=np.int64)
        self.pos = np.zeros(rows, dtype=np.int64)  # ids written per row (may pass capacity)
        self.mark_pos = np.zeros(rows, dtype=np.int64)  # where the last MARK's symbol went
        self.finished = np.zeros(rows, dtype=bool)
        self.stopped = np.zeros(rows, dtype=bool)  # ended by its rule or the end symbol
        self.steps = 0  # batch steps taken, those undone by BACK or RESTART included

    def written(self, row: int) -> np.ndarray:
        """The ids row `row` has written so far (at most `capacity`)."""
        return self.out[row, : min(self.pos[row], self.capacity)]

    def result(self, row: int) -> list[int]:
        """What row `row` wrote, without its end symbol."""
        ids = self.written(row).tolist()
        return ids[: ids.index(self.end_id)] if self.end_id in ids else ids

    def rewrite(self, row: int, ids: Sequence[int]) -> None:
        """Replace what row `row` has written with `ids` (at most `capacity` of them)."""
        self.grow(len(ids))
        self.out[row, : len(ids)] = ids
        self.pos[row] = len(ids)

    def choose_again(self, row: int) -> int:
        """Row `row`'s choice from its logits as they are now (after a rule masked more), with
        this step's noise: no new random draws."""
        window = slice(row, row + 1)
        return int(choose(self.logits[window], self.options, self.noise[window])[0])

    def write(self, rows: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write `ids[row]` after what each row of `rows` has written: (the rows complete now,
        at the end symbol or at `capacity`; those of them that wrote the end symbol)."""
        self.grow(self.steps)  # each row has written at most `steps` ids before this one
        if len(rows) == 1:  # batch 1 and a batch's last row: Python numbers, not 1-value arrays
            row = int(rows[0])
            symbol, pos = int(ids[row]), int(self.pos[row]) + 1
            self.out[row, pos - 1] = symbol  # pos - 1 <= capacity: the buffer has room for it
            self.pos[row] = pos
            ended = rows if symbol == self.end_id else rows[:0]
            return (rows if len(ended) or pos >= self.capacity else ended), ended
        if len(rows) == len(self.pos):  # every row: whole arrays, no gathers
            pos, written = self.pos, ids
            self.out[rows, pos] = written
            pos += 1
        else:
            pos, written = self.pos[rows], ids[rows]
            self.out[rows, pos] = written
            pos += 1
            self.pos[rows] = pos
        ends = written == self.end_id
        return rows[ends | (pos >= self.capacity)], rows[ends]

    def grow(self, last: int) -> None:
        """Make room for an id at position `last` (and the end symbol after it)."""
        if last + 1 >= self.out.shape[1] and self.out.shape[1] <= self.capacity:
            width = min(2 * (last + 2), self.capacity + 1)
            grown = np.zeros((len(self.out), width), dtype=np.int64)
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


def same_primer(ids: Sequence[int], rows: int) -> np.ndarray:
    """Primers [rows, L] that all open with `ids`."""
    return np.tile(np.asarray(ids, dtype=np.int64), (rows, 1))


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
    Gumbel noise [B, V] per step whatever the rows do, so each row's symbols depend only on the
    seed and on that row (the finished rows' noise is never computed).
    """
    rows = len(primers)
    stepper.reset(rows)
    logits = stepper.step(np.full(rows, end_id))
    for column in primers.T:
        logits = stepper.step(column)
    noise = GumbelNoise(options.seed, logits.shape)
    batch = Batch(logits, options, capacity, end_id)
    rules = list(rules)
    never = list(never)
    active = np.arange(rows)  # rows not finished
    live = [row for row in range(rows) if rules[row] is not None]  # ... with a rule: ascending
    if rewind:
        bar_states, tune_states = RowStates(stepper, rows), RowStates(stepper, rows)
        bar_states.save(active)
        tune_states.save(active)
        bar_logits, tune_logits = logits.copy(), logits.copy()
    # Per step, numpy work over the whole batch and Python work only for rows with a live rule:
    # at batch 1 a few microseconds of bookkeeping are a visible share of a ~100 us model step.
    for _ in range(max_steps):
        batch.steps += 1
        if live:
            live = [row for row in live if not rules[row].done]
            for row in live:
                rules[row].prepare(logits[row])
        if never:
            logits[:, never] = -np.inf
        if len(active) == rows:
            batch.logits, batch.noise = logits, noise.next()
            ids = choose(logits, options, batch.noise)
        else:  # the finished rows' ids are never read: draw and choose for the others only
            batch.logits, batch.noise = logits, noise.next(active)
            ids = np.zeros(rows, dtype=np.int64)
            ids[active] = choose(logits[active], options, batch.noise[active])
        acts: dict[int, int] = {}  # rows whose action is not KEEP
        for row in live:
            action, ids[row] = rules[row].accept(batch, row, ids[row])
            if action != KEEP:
                acts[row] = action
        writing = active
        if acts:
            if not rewind and any(action != STOP for action in acts.values()):
                raise ValueError("rules that mark rows or send them back need rewind=True")
            if any(action > MARK for action in acts.values()):
                writing = np.array([r for r in active if acts.get(r, KEEP) <= MARK], np.int64)
        done, ended = batch.write(writing, ids)
        stop = [row for row, action in acts.items() if action == STOP] if acts else []
        if len(done) or stop:
            batch.stopped[ended] = True
            batch.stopped[stop] = True
            batch.finished[done] = True
            batch.finished[stop] = True
            active = np.flatnonzero(~batch.finished)
            live = [row for row in live if not batch.finished[row]]
            # step only the rest (sorted() and set, not np.union1d, which imports numpy.ma: 8 ms)
            stepper.retire(np.array(sorted({*done.tolist(), *stop}), dtype=np.int64))
        back = restart = None
        if acts and rewind:
            marked = [row for row, action in acts.items() if action == MARK]
            if marked:  # a bar starts with this step's symbol: keep the row as it was before it
                batch.mark_pos[marked] = batch.pos[marked] - 1
                bar_states.save(np.array(marked))
                bar_logits[marked] = logits[marked]
            back = np.array([row for row, action in acts.items() if action == BACK], np.int64)
            batch.pos[back] = batch.mark_pos[back]
            restart = np.array([row for row, act in acts.items() if act == RESTART], np.int64)
            batch.pos[restart] = batch.mark_pos[restart] = 0
        if not len(active):
            break
        logits = stepper.step(ids)
        if back is not None and len(back):
            bar_states.restore(back)
            logits[back] = bar_logits[back]
        if restart is not None and len(restart):
            tune_states.restore(restart)
            logits[restart] = tune_logits[restart]
            bar_states.save(restart)
            bar_logits[restart] = tune_logits[restart]
    batch.logits = logits
    return batch
