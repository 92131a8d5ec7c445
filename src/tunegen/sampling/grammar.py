"""Grammar-aware sampling: every tune of a batch follows its ABC as it is written, and a bar that
does not scan is sampled again from the model state saved at its start (per row, per bar)."""

from __future__ import annotations

import copy
import re
from collections.abc import Container

import numpy as np
from torch import nn

from tunegen.data.vocab import Vocabulary
from tunegen.errors import UsageError
from tunegen.music.abc_scan import check_text
from tunegen.sampling.form import FormPlan
from tunegen.sampling.rowstate import GroupedStepper, RowStates
from tunegen.sampling.sampler import (
    GrammarStats,
    GumbelNoise,
    HeaderPlan,
    SamplingOptions,
    TorchStepper,
    _RowConstraint,
    choose,
    header_starts,
    make_stepper,
)
from tunegen.sampling.tune_judge import BAD, BAR, EOT, NONE, TuneJudge

UNWRITTEN_FIELDS = "IV"  # header fields never offered: instructions, and voices (one melody)
MAX_TRIES = 8  # samples of one bar before the tune starts again
MAX_RESTARTS = 2  # fresh starts of one tune before it is left to the model alone
_REASON_KEY = re.compile(r"\b\d+(?:/\d+)?\b")  # reasons counted without their numbers
RUN_CHARS = "|:]0123456789"  # what may extend a bar line: masked after form control's "|"
NOTE_STARTS = "ABCDEFGabcdefgzx^_=["  # what would add time to a bar


class _Row:
    """One tune being written: its header constraint, its judge and its forced text."""

    def __init__(self, header: _RowConstraint, judge: TuneJudge) -> None:
        self.header, self.judge = header, judge
        self.pending: list[str] = []  # forced symbols, the next one last
        self.tries = 0
        self.restarts = 0
        self.free = False  # given up: the model writes the rest unchecked
        self.banned: frozenset[str] = frozenset()  # header fields refused in this tune

    def snapshot(self) -> _Row:
        row = copy.copy(self)
        row.header = _copy_header(self.header)
        row.judge = self.judge.copy()
        row.pending = list(self.pending)
        return row


def _copy_header(header: _RowConstraint) -> _RowConstraint:
    other = copy.copy(header)
    other.pending = list(header.pending)
    return other


def check_primer(primer: str, judge: TuneJudge) -> None:
    """Feed the primer to `judge`; a primer that is not well-formed ABC is a UsageError naming
    the bar and the reason (it is reported, never silently changed)."""
    for char in primer:
        if judge.feed(char) == BAD:
            raise UsageError(f"--primer is not well-formed ABC: {judge.reason}")
    left = judge.left() if judge.scan.in_body else None
    if left is not None and left < 0:
        raise UsageError("--primer is not well-formed ABC: its last bar is too long")


def sample_grammar(
    model: nn.Module,
    vocab: Vocabulary,
    num_tunes: int,
    options: SamplingOptions,
    primer: str,
    plan: HeaderPlan,
    form: FormPlan,
    stats: GrammarStats,
    mask: bool = True,
) -> list[str]:
    """Sample `num_tunes` tunes as one batch, each kept well formed by its own TuneJudge.

    Per step: rows with forced text take it; the others sample from logits masked where a mask
    is cheap (no end of tune before a closing bar line; no repeat signs in form control's plain
    bar lines). The judge then reads each row's symbol: BAR saves the row's model state, logits
    and judge (the state before the symbol: a bar starts with it); BAD puts the row back there.
    """
    primer_ids = vocab.encode(primer)  # a symbol the model never saw is named first
    stepper = make_stepper(model)
    if isinstance(stepper, TorchStepper) and not _lstm_like(model):
        stepper = GroupedStepper(model)
    stepper.reset(num_tunes)
    symbols, eot = vocab.symbols, vocab.end_id
    index = {symbol: i for i, symbol in enumerate(symbols)}
    run_ids = np.array([i for i, s in enumerate(symbols) if s[:1] in RUN_CHARS and i != eot])
    bar_ids = np.array([i for i, s in enumerate(symbols) if s[:1] in "|:" and i != eot])
    not_bar_line = np.ones(len(symbols), dtype=bool)
    not_bar_line[[index[s] for s in "|:" if s in index]] = False
    note_ids = np.array([i for i, s in enumerate(symbols) if s[:1] in NOTE_STARTS and i != eot])
    if form.active and not {":", "|", "\n"} <= index.keys():
        raise UsageError("--form needs a model that writes the symbols ':', '|' and new lines")
    final = "|]" if "]" in index else "||"  # a tiny model may never have written "]"
    template = _Row(_RowConstraint(plan, vocab, header_starts(vocab)), TuneJudge(form, final))
    template.banned = frozenset(letter for letter in UNWRITTEN_FIELDS if letter in index)
    for char in primer:
        template.header.observe(char)
    check_primer(primer, template.judge)
    template.pending = template.judge.then[::-1]
    template.judge.then = []
    rows = [template.snapshot() for _ in range(num_tunes)]
    noise = GumbelNoise(options.seed, (num_tunes, len(vocab)))
    logits = stepper.step(np.full(num_tunes, eot))
    for symbol in primer_ids:
        logits = stepper.step(np.full(num_tunes, symbol))
    everyone = np.arange(num_tunes)
    bar_states, tune_states = RowStates(stepper, num_tunes), RowStates(stepper, num_tunes)
    bar_states.save(everyone)
    tune_states.save(everyone)
    bar_logits, tune_logits = logits.copy(), logits.copy()
    bar_rows = [row.snapshot() for row in rows]
    tune_rows = [row.snapshot() for row in rows]
    out = np.zeros((num_tunes, options.max_symbols), dtype=np.int64)
    pos = np.zeros(num_tunes, dtype=np.int64)
    bar_pos = pos.copy()
    finished = np.zeros(num_tunes, dtype=bool)
    forced: list[str | None] = [None] * num_tunes
    choice = [False] * num_tunes
    headers: list[_RowConstraint | None] = [None] * num_tunes
    for _ in range(4 * options.max_symbols + 64):  # backtracking costs steps: bound the batch
        stats.steps += 1
        active = np.flatnonzero(~finished)
        for b in active:
            row = rows[b]
            forced[b], headers[b], choice[b] = None, None, False
            judge = row.judge
            if not row.pending and not row.free and not judge.in_header and form.active:
                text, choice[b] = judge.form_step()
                if text:
                    row.pending = judge.then[::-1] + list(text)[::-1]
                    judge.then = []
            if row.pending:
                forced[b] = row.pending.pop()
            elif judge.in_header:
                headers[b] = _copy_header(row.header)  # as it was before this step
                symbol = row.header.forced()
                if symbol is None:
                    logits[b, ~row.header.allowed()] = -np.inf
                    if row.banned and row.header.line == "":
                        logits[b, [index[letter] for letter in row.banned]] = -np.inf
                else:
                    forced[b] = symbols[symbol]
            elif row.free:
                continue
            elif form.active:
                stats.masked_steps += 1
                if choice[b]:  # a full bar: the model only says "|" (go on) or ":" (part ends)
                    logits[b, not_bar_line] = -np.inf
                else:
                    logits[b, bar_ids] = -np.inf
                    logits[b, eot] = -np.inf
                    if judge.plain_run:
                        logits[b, run_ids] = -np.inf
            else:
                if not judge.after_bar_line:  # a tune ends only after a bar line
                    logits[b, eot] = -np.inf
                if mask and judge.bar_full():  # no more notes in a full bar
                    logits[b, note_ids] = -np.inf
                    stats.masked_steps += 1
        step_noise = noise.next()
        ids = choose(logits, options, step_noise)
        save, back = [], []
        for b in active:
            row = rows[b]
            symbol = forced[b] if forced[b] is not None else symbols[ids[b]]
            if row.header.in_header:
                row.header.observe(symbol)
            if symbol == EOT and forced[b] is None and not row.free and not row.judge.can_end():
                # The model ends here but the tune cannot: mend the last bar line if a repeat
                # sign or final bar line makes it whole, else choose again without the end.
                mended = _mend_end(primer, vocab.decode(out[b, : pos[b]].tolist()), index)
                if mended is None:
                    logits[b, eot] = -np.inf
                    ids[b] = choose(logits[b : b + 1], options, step_noise[b : b + 1])[0]
                    symbol = symbols[ids[b]]
                else:
                    stats.repaired += 1
                    mended_ids = vocab.encode(mended)[: options.max_symbols]
                    out[b, : len(mended_ids)] = mended_ids
                    pos[b] = len(mended_ids)
                    row.free = True  # nothing left to judge: the end of tune follows
            if row.free:
                code = NONE
            else:
                if choice[b]:  # form control writes the bar line the model chose
                    row.pending = list(row.judge.choose_bar_line(symbol))[::-1]
                    row.pending = row.judge.then[::-1] + row.pending
                    row.judge.then = []
                    forced[b] = symbol = row.pending.pop()
                code = row.judge.feed(symbol, forced[b] is not None)
                if code == BAD and forced[b] is None:
                    back.append(b)
                    continue
                if row.judge.then:
                    row.pending = row.judge.then[::-1] + row.pending
                    row.judge.then = []
                if code == BAR:
                    save.append(b)
            ids[b] = index[symbol]
            if pos[b] < options.max_symbols:
                out[b, pos[b]] = ids[b]
            pos[b] += 1
            if ids[b] == eot or pos[b] >= options.max_symbols:
                finished[b] = True
        for b in save:  # a bar starts with this step's symbol: keep the row as it was before it
            row = rows[b]
            saved = copy.copy(row)
            saved.judge = row.judge.bar_start
            saved.header = headers[b] or _copy_header(row.header)
            saved.pending = list(row.pending) + ([forced[b]] if forced[b] is not None else [])
            same = bar_pos[b] == pos[b] - 1  # a header line sampled again starts where it did
            saved.tries = row.tries = bar_rows[b].tries if same else 0
            saved.banned = bar_rows[b].banned if same else row.banned
            bar_rows[b], bar_pos[b] = saved, pos[b] - 1
        if save:
            where = np.array(save)
            bar_states.save(where)
            bar_logits[where] = logits[where]
        restart = []
        for b in back:
            reason = _REASON_KEY.sub("N", rows[b].judge.reason.split(": ", 1)[-1])
            stats.reasons[reason] = stats.reasons.get(reason, 0) + 1
            if rows[b].judge.ban:  # a field that cannot stand here is not offered again
                bar_rows[b].banned = bar_rows[b].banned | {rows[b].judge.ban}
            if bar_rows[b].tries + 1 >= MAX_TRIES:
                restart.append(b)
                continue
            stats.retries += 1
            bar_rows[b].tries += 1
            rows[b] = bar_rows[b].snapshot()
            pos[b] = bar_pos[b]
        for b in restart:
            stats.restarts += 1
            count = rows[b].restarts + 1
            rows[b] = tune_rows[b].snapshot()
            rows[b].restarts = count
            if count > MAX_RESTARTS:
                stats.gave_up += 1
                rows[b].free = True
            bar_rows[b], pos[b], bar_pos[b] = rows[b].snapshot(), 0, 0
        if finished.all():
            break
        logits = stepper.step(ids)
        by_bar = np.array([b for b in back if b not in restart], dtype=np.int64)
        if len(by_bar):
            bar_states.restore(by_bar)
            logits[by_bar] = bar_logits[by_bar]
        if restart:
            where = np.array(restart)
            tune_states.restore(where)
            logits[where] = tune_logits[where]
            bar_states.save(where)
            bar_logits[where] = tune_logits[where]
    texts = []
    for b in range(num_tunes):
        kept = out[b, : min(pos[b], options.max_symbols)].tolist()
        texts.append(primer + vocab.decode(kept[: kept.index(eot)] if eot in kept else kept))
    return texts


def _mend_end(primer: str, text: str, symbols: Container[str]) -> str | None:
    """`text` (a tune that the model wants to end here) with its last bar line replaced by one
    that makes the tune whole (":|" closing an open repeat, "|]", "||") and written with
    `symbols` the model knows, or None."""
    body = text.rstrip()
    run = len(body) - len(body.rstrip("|:]"))
    if not run:
        return None
    for line in (":|", "|]", "||"):
        if not all(char in symbols for char in line):
            continue
        mended = f"{body[:-run]}{line}\n"
        verdict = check_text(primer + mended)
        if verdict.every_bar_right:
            return mended
    return None


def _lstm_like(model: nn.Module) -> bool:
    """Whether the model's state is a list of per-layer (h, c) [B, H] pairs."""
    state = model.initial_state(1)
    return isinstance(state, list) and bool(state) and state[0][0].dim() == 2
