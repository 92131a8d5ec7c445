"""Grammar-aware sampling: every tune of a batch follows its ABC as it is written, and a bar that
does not scan is sampled again from the model state saved at its start (per row, per bar)."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tunegen.data.vocab import Vocabulary
from tunegen.errors import Setting, SettingError
from tunegen.models.stepping import make_stepper
from tunegen.music.abc_scan import AbcScanner, OpenNote
from tunegen.sampling.form import FormPlan
from tunegen.sampling.header import HeaderConstraint, HeaderPlan, header_starts
from tunegen.sampling.loop import (
    BACK,
    KEEP,
    MARK,
    RESTART,
    STOP,
    Batch,
    same_primer,
    sample_rows,
)
from tunegen.sampling.options import SamplingOptions, header_scale
from tunegen.sampling.tune_judge import (
    BAD,
    BAR,
    CODE_FIELDS,
    EOT,
    KEY_CHARS,
    MAX_CODE_LINE,
    TuneJudge,
    shallow_copy,
)

if TYPE_CHECKING:
    from torch import nn

    from tunegen.models.numpy_lstm import NumpyLSTM

# Header fields never offered: instructions, parts (abc2midi: "P: field in header should go
# after K: field"), voices (one melody), and abbreviations (U:, which the corpora never use; a
# model that writes "U:Garun" for a title makes an abc2midi error)
UNWRITTEN_FIELDS = "IPUV"
MAX_TRIES = 8  # samples of one bar before the tune starts again
MAX_RESTARTS = 2  # fresh starts of one tune before it ends at its last good bar
GIVEN_UP = f"a bar failed {MAX_TRIES} tries on {MAX_RESTARTS + 1} starts"
_REASON_KEY = re.compile(r"\b\d+(?:/\d+)?\b")  # reasons counted without their numbers
RUN_CHARS = "|:]0123456789"  # what may extend a bar line: masked after form control's "|"
LENGTH_CHARS = frozenset("0123456789/")  # what may extend a note's length
_UNKNOWN = object()
# What would add time to a full bar: a note, rest or chord, or what must be followed by one: a
# decoration (abc2midi's one-letter ones), a slur or tuplet, broken rhythm, grace notes
NOTE_STARTS = "ABCDEFGabcdefgzx^_=[" + ".~HLMOPRSTuv" + "(<>{"


@dataclass
class GrammarStats:
    """What grammar-aware sampling did: bars sampled again, tunes restarted or given up."""

    retries: int = 0  # bars (or header lines) sampled again from their start
    restarts: int = 0  # tunes started again after MAX_TRIES bad tries of one bar
    repaired: int = 0  # tune ends mended: the last bar line made ":|" or "|]"
    opened: int = 0  # repeats opened after a pickup (GrammarRule._open_repeat)
    ended_early: int = 0  # tunes ended at their last good bar after MAX_RESTARTS restarts
    gave_up: int = 0  # ... that had none (in the header, no bar line yet): left to the model
    masked_steps: int = 0  # row-steps where a mask removed symbols
    steps: int = 0  # batch steps, backtracked ones included
    reasons: dict[str, int] = field(default_factory=dict)  # why bars were sampled again
    # Per tune sampled with these stats, in order: what the grammar could not do for it (a
    # line for the tunebook), or None. Not merged: it belongs to one `compose` call's tunes.
    notes: list[str | None] = field(default_factory=list)

    def merge(self, other: GrammarStats) -> None:
        """Add another batch's counts to these."""
        counts = (
            "retries", "restarts", "repaired", "opened", "ended_early", "gave_up", "masked_steps"
        )  # fmt: skip
        for name in (*counts, "steps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"grammar: {self.retries} bars sampled again, {self.restarts} tunes restarted, "
            f"{self.repaired} endings mended, {self.opened} repeats opened after a pickup, "
            f"{self.ended_early} ended early, "
            f"{self.gave_up} left unchecked"
        )


class _Row:
    """One tune being written: its header constraint, its judge and its forced text."""

    def __init__(self, header: HeaderConstraint, judge: TuneJudge) -> None:
        self.header, self.judge = header, judge
        self.pending: list[str] = []  # forced symbols, the next one last
        self.tries = 0
        self.restarts = 0
        self.free = False  # given up: the model writes the rest unchecked
        self.banned: frozenset[str] = frozenset()  # header fields refused in this tune

    def snapshot(self) -> _Row:
        row = shallow_copy(self)
        row.header = _copy_header(self.header)
        row.judge = self.judge.copy()
        row.pending = list(self.pending)
        return row


def _copy_header(header: HeaderConstraint) -> HeaderConstraint:
    other = shallow_copy(header)
    other.pending = list(header.pending)
    return other


def check_primer(primer: str, judge: TuneJudge) -> None:
    """Feed the primer to `judge`; a primer that is not well-formed ABC is a UsageError naming
    the bar and the reason (it is reported, never silently changed)."""
    for char in primer:
        if judge.feed(char) == BAD:
            raise SettingError(Setting("primer"), f" is not well-formed ABC: {judge.reason}")
    left = judge.left() if judge.scan.in_body else None
    if left is not None and left < 0:
        raise SettingError(Setting("primer"), " is not well-formed ABC: its last bar is too long")


@dataclass
class _Shared:
    """What every row's GrammarRule of one batch reads: the vocabulary and its symbol classes,
    the form, the primer, and the batch's counts (`stats`)."""

    vocab: Vocabulary
    form: FormPlan
    primer: str
    stats: GrammarStats
    mask: bool
    scale: float | None = None  # options.header_scale: the header's own temperature

    def __post_init__(self) -> None:
        symbols, eot = self.vocab.symbols, self.vocab.end_id
        self.end_id, self.form_active = eot, self.form.active
        self.index = {symbol: i for i, symbol in enumerate(symbols)}

        def ids(starts: str) -> np.ndarray:
            return np.array([i for i, s in enumerate(symbols) if s[:1] in starts and i != eot])

        self.run_ids, self.bar_ids = ids(RUN_CHARS), ids("|:")
        self.not_bar_line = np.ones(len(symbols), dtype=bool)
        self.not_bar_line[[self.index[s] for s in "|:" if s in self.index]] = False
        self.note_ids = ids(NOTE_STARTS)
        # A row saves its header constraint only when its judge says BAR, which in the header
        # happens at a line's first symbol: copy it before such steps only, unless a symbol (a
        # multi-character token) could start a line inside itself.
        self.any_line = any("\n" in symbol[:-1] for symbol in symbols if symbol != EOT)
        self.blocked: dict[int, np.ndarray] = {}  # ~allowed by the allowed mask's id (two masks)
        self.lengths: dict[tuple, np.ndarray | None] = {}  # length_blocked's answers
        self.length_ids = {i: s for i, s in enumerate(symbols) if s in LENGTH_CHARS}
        # K: waits for an M: line (the model writes one first): without it abc2midi counts
        # every bar as 4/4, and every tune of the corpora states its metre
        self.starts = header_starts(self.vocab)  # what may open a header line
        keys = [i for i, s in enumerate(symbols) if self.starts[i] and s[:1] == "K"]
        self.key_starts = np.array(keys) if keys and "M" in self.index else None
        # A K: line is written with what keys are written with, and a K:, M:, L:, R: or Q:
        # line ends by MAX_CODE_LINE: the judge refuses the rest (TuneJudge._header), so the
        # model is not offered it
        self.not_key = np.array([s != "\n" and not set(s) <= KEY_CHARS for s in symbols])
        self.not_key[eot] = True
        self.not_newline = np.array([s != "\n" for s in symbols])

    def length_blocked(self, scan: AbcScanner, note: OpenNote) -> np.ndarray | None:
        """The ids a note being written may not take next (None: none): a length digit that
        would make it too long for its bar; and when it is too long already (`A` with an eighth
        left), everything but what shortens it ("/", a digit after one).
        The scanner judges `A` too long only once it is written out (it may become `A/`)."""
        key = (note.length, note.room, note.context)
        blocked = self.lengths.get(key, _UNKNOWN)
        if blocked is not _UNKNOWN:
            return blocked
        current = scan.length_ticks(note.length, note.fermata)
        too_long = current is None or current > note.room
        allowed = np.zeros(len(self.vocab), dtype=bool) if too_long else None
        refused = []
        for i, char in self.length_ids.items():
            if char == "/":
                fits = note.shrinkable
            else:
                ticks = scan.length_ticks(note.length + char, note.fermata)
                fits = ticks is not None and 0 < ticks <= note.room
            if allowed is not None:
                allowed[i] = fits
            elif not fits:
                refused.append(i)
        if allowed is not None:
            blocked = np.flatnonzero(~allowed) if allowed.any() else None
        else:
            blocked = np.array(refused, np.int64) if refused else None
        if len(self.lengths) > 4096:
            self.lengths.clear()
        self.lengths[key] = blocked
        return blocked


class GrammarRule:
    """One tune's rule in the sampling loop: its header constraint, its judge and its forced
    text, and the row as it was at the start of its bar and of the tune, to go back to.

    prepare: forced text is taken; otherwise the logits are masked where a mask is cheap (no end
    of tune before a closing bar line; no repeat signs in form control's plain bar lines).
    accept: the judge reads the symbol: BAR marks the row (the state before the symbol: a bar
    starts with it); BAD sends it back to its mark, or after MAX_TRIES to the start of the tune.
    """

    done = False  # a tune given up on is still watched: its end of tune is its own

    def __init__(self, shared: _Shared, template: _Row) -> None:
        self.shared = shared
        self.row, self.bar_row, self.tune_row = (template.snapshot() for _ in range(3))
        self.forced: str | None = None
        self.choice = False  # form control: the model says "|" (go on) or ":" (part ends)
        self.note: str | None = None  # what became of a tune that never got a bar right
        self.header: HeaderConstraint | None = None  # the header before this step
        # the judge as the body starts, and where the body's symbols start in the batch's row
        # (None: still in the header); see _open_repeat
        self.body: tuple[TuneJudge, int] | None = None

    def prepare(self, logits: np.ndarray) -> None:
        shared, row = self.shared, self.row
        self.forced, self.header, self.choice = None, None, False
        judge = row.judge
        if not (row.pending or row.free or shared.form_active or judge.scan.in_header):
            # the body, written by the model, no form control: most steps, first
            if not judge.after_bar_line:  # a tune ends only after a bar line
                logits[shared.end_id] = -np.inf
            if shared.mask and judge.bar_full():  # no more notes in a full bar
                logits[shared.note_ids] = -np.inf
                shared.stats.masked_steps += 1
            elif shared.mask:
                self._mask_length(logits)
            return
        if not row.pending and not row.free and not judge.in_header and shared.form_active:
            text, self.choice = judge.form_step()
            if text:
                row.pending = judge.then[::-1] + list(text)[::-1]
                judge.then = []
        if row.pending:
            self.forced = row.pending.pop()
        elif judge.in_header:
            if shared.any_line or judge.line == "":
                self.header = _copy_header(row.header)  # as it was before this step
            symbol = row.header.forced()
            if symbol is None:
                if shared.scale is not None:
                    logits *= shared.scale
                allowed = row.header.allowed()
                blocked = shared.blocked.get(id(allowed))
                if blocked is None:
                    blocked = shared.blocked[id(allowed)] = ~allowed
                logits[blocked] = -np.inf
                line = judge.line
                if len(line) >= MAX_CODE_LINE and line[:2] in CODE_FIELDS:
                    logits[shared.not_newline] = -np.inf
                elif line[:2] == "K:":
                    logits[shared.not_key] = -np.inf
                if row.header.line == "":
                    if row.banned:
                        logits[[shared.index[letter] for letter in row.banned]] = -np.inf
                    needs_metre = "M" not in judge.fields and "M" not in row.banned
                    if needs_metre and shared.key_starts is not None:
                        logits[shared.key_starts] = -np.inf  # every corpus tune states its metre
            else:
                self.forced = shared.vocab.symbols[symbol]
        elif not row.free:  # form control (the body without it is done above)
            shared.stats.masked_steps += 1
            if self.choice:  # a full bar: the model only says "|" (go on) or ":" (part ends)
                logits[shared.not_bar_line] = -np.inf
            else:
                logits[shared.bar_ids] = -np.inf
                logits[shared.end_id] = -np.inf
                if judge.plain_run:
                    logits[shared.run_ids] = -np.inf
                self._mask_length(logits)

    def _mask_length(self, logits: np.ndarray) -> None:
        """While a note is being written: no length that would make its bar too long (see
        _Shared.length_blocked)."""
        scan = self.row.judge.scan
        note = scan.open_note()
        if note is not None:
            blocked = self.shared.length_blocked(scan, note)
            if blocked is not None:
                logits[blocked] = -np.inf
                self.shared.stats.masked_steps += 1

    def accept(self, batch: Batch, b: int, chosen: int) -> tuple[int, int]:
        shared, row, vocab = self.shared, self.row, self.shared.vocab
        symbol = self.forced if self.forced is not None else vocab.symbols[chosen]
        if row.header.in_header:
            row.header.observe(symbol)
        if symbol == EOT and self.forced is None and not row.free and not row.judge.can_end():
            # The model ends here but the tune cannot: mend the last bar line if a repeat
            # sign or final bar line makes it whole, else choose again without the end.
            text = vocab.decode(batch.written(b).tolist())
            mended = _mend_end(shared.primer, text, shared.index)
            if mended is None:
                batch.logits[b, vocab.end_id] = -np.inf
                chosen = batch.choose_again(b)
                symbol = vocab.symbols[chosen]
            else:
                shared.stats.repaired += 1
                batch.rewrite(b, vocab.encode(mended)[: batch.capacity])
                row.free = True  # nothing left to judge: the end of tune follows
        action = KEEP
        if not row.free:
            if self.choice:  # form control writes the bar line the model chose
                row.pending = list(row.judge.choose_bar_line(symbol))[::-1]
                row.pending = row.judge.then[::-1] + row.pending
                row.judge.then = []
                self.forced = symbol = row.pending.pop()
            code = row.judge.feed(symbol, self.forced is not None)
            if code == BAD:  # (forced text is judged in the body only: the header's is given)
                code = self._open_repeat(batch, b, symbol)
                if code == BAD:
                    return self._back(batch, b), chosen
            if self.body is None and not row.judge.scan.in_header:
                self.body = (row.judge.copy(), int(batch.pos[b]) + 1)
            if row.judge.then:
                row.pending = row.judge.then[::-1] + row.pending
                row.judge.then = []
            if code == BAR:
                self._mark(same=batch.mark_pos[b] == batch.pos[b])
                action = MARK
        return action, chosen if self.forced is None else shared.index[symbol]

    def _mark(self, same: bool) -> None:
        """Keep the row as it was before this step's symbol, with which a bar starts; `same`: a
        header line sampled again starts where it did, and keeps its count of tries."""
        row = self.row
        saved = shallow_copy(row)
        saved.judge = row.judge.bar_start
        saved.header = self.header or _copy_header(row.header)
        saved.pending = list(row.pending) + ([self.forced] if self.forced is not None else [])
        saved.tries = row.tries = self.bar_row.tries if same else 0
        saved.banned = self.bar_row.banned if same else row.banned
        self.bar_row = saved

    def _back(self, batch: Batch, b: int) -> int:
        """The row goes back to the start of its bar (BACK) or, after MAX_TRIES, of the tune
        (RESTART); after MAX_RESTARTS restarts it ends at the start of its bar (STOP)."""
        stats, row = self.shared.stats, self.row
        reason = _REASON_KEY.sub("N", row.judge.reason.split(": ", 1)[-1])
        stats.reasons[reason] = stats.reasons.get(reason, 0) + 1
        if row.judge.ban:  # a field that cannot stand here is not offered again
            self.bar_row.banned = self.bar_row.banned | {row.judge.ban}
        if self.bar_row.tries + 1 < MAX_TRIES:
            stats.retries += 1
            self.bar_row.tries += 1
            self.row = self.bar_row.snapshot()
            if self.body is not None and batch.mark_pos[b] < self.body[1]:
                self.body = None  # back before the body's start (into the K: line)
            return BACK
        count = row.restarts + 1
        if count > MAX_RESTARTS:
            ending = self._last_good_bar(batch, b)
            if ending is not None:
                stats.ended_early += 1
                batch.rewrite(b, ending)
                self.row.free = True
                self.note = f"ended at its last good bar ({GIVEN_UP})"
                return STOP
        stats.restarts += 1
        self.row = self.tune_row.snapshot()
        self.body = None
        self.row.restarts = count
        if count > MAX_RESTARTS:
            stats.gave_up += 1
            self.row.free = True
            self.note = f"written by the model unchecked ({GIVEN_UP})"
        self.bar_row = self.row.snapshot()
        return RESTART

    def _open_repeat(self, batch: Batch, b: int, symbol: str) -> int:
        """A tune that opens with a pickup (`D|GAB GAB|...`) and whose first `:|` jumps back to
        its start plays the pickup again, as a bar of its own that abc2midi counts short ("Bar 0
        has 1 time units ... in repeat"): the model wrote a full bar before the `:|`, as the
        books often do. Its first bar line is then made `|:`, so that the repeat starts after
        the pickup, as an editor would mend it. Returns the judge's code for `symbol` read again
        over the mended text (BAR: the bar the `:|` closed is counted), having rewritten the
        row; BAD, with nothing changed, where the fault is another or the mend does not make
        the tune right. The model's state is left as it is: it read `|` where the text has
        `|:`, which changes nothing it plays."""
        bad, shared, body = self.row.judge.wrong_bar, self.shared, self.body
        if (
            bad is None
            or bad.written != 1  # the tune's first bar ...
            or bad.repeat_pass < 2  # ... played again
            or body is None
            or shared.form_active  # form control writes its own repeats
            or ":" not in shared.index
        ):
            return BAD
        judge, start = body
        ids = batch.out[b, start : batch.pos[b]].tolist()
        symbols = [shared.vocab.symbols[i] for i in ids]
        if "|" not in symbols:
            return BAD
        first = symbols.index("|")  # the pickup's bar line: a plain one, not `||`, `|:`, `|1`
        after = symbols[first + 1 : first + 2]
        if not after or after[0][:1] in "|:][0123456789" or first + start >= batch.mark_pos[b]:
            return BAD
        symbols.insert(first + 1, ":")
        trial = judge.copy()
        for each in symbols:
            if trial.feed(each) == BAD:
                return BAD
        if trial.feed(symbol) != BAR:
            return BAD
        head = batch.out[b, :start].tolist()
        batch.rewrite(b, [*head, *ids[: first + 1], shared.index[":"], *ids[first + 1 :]])
        batch.mark_pos[b] += 1
        self.row.judge = trial
        shared.stats.opened += 1
        return BAR

    def _last_good_bar(self, batch: Batch, b: int) -> list[int] | None:
        """The row's text up to the start of the bar it failed on, as a whole tune (its last
        bar line mended where a repeat is left open), or None: still in the header, no bar line
        yet (nothing to mend), or form control.
        A tune that failed every try of one bar on three starts is kept short and right, not
        written on unchecked (a model that loops on `K:K:K:...` to the symbol budget)."""
        judge, shared = self.bar_row.judge, self.shared
        if shared.form_active or judge.in_header:
            return None
        ids = batch.out[b, : batch.mark_pos[b]].tolist()
        if judge.can_end():
            return ids
        text = shared.vocab.decode(ids)
        mended = _mend_end(shared.primer, text, shared.index)
        return None if mended is None else shared.vocab.encode(mended)[: batch.capacity]


def sample_grammar(
    model: NumpyLSTM | nn.Module,
    vocab: Vocabulary,
    num_tunes: int,
    options: SamplingOptions,
    primer: str,
    plan: HeaderPlan,
    form: FormPlan,
    stats: GrammarStats,
    mask: bool = True,
) -> list[str]:
    """Sample `num_tunes` tunes as one batch, each kept well formed by its own TuneJudge (see
    GrammarRule); `stats` collects what that took. `mask`: no more notes in a full bar."""
    primer_ids = vocab.encode(primer)  # a symbol the model never saw is named first
    shared = _Shared(vocab, form, primer, stats, mask, header_scale(options))
    if form.active and not {":", "|", "\n"} <= shared.index.keys():
        raise SettingError(
            Setting("form"), " needs a model that writes the symbols ':', '|' and new lines"
        )
    final = "|]" if "]" in shared.index else "||"  # a tiny model may never have written "]"
    template = _Row(HeaderConstraint(plan, vocab, shared.starts), TuneJudge(form, final))
    template.banned = frozenset(letter for letter in UNWRITTEN_FIELDS if letter in shared.index)
    for char in primer:
        template.header.observe(char)
    check_primer(primer, template.judge)
    template.pending = template.judge.then[::-1]
    template.judge.then = []
    rules = [GrammarRule(shared, template) for _ in range(num_tunes)]
    batch = sample_rows(
        make_stepper(model, rewind=True),
        options,
        same_primer(primer_ids, num_tunes),
        rules,
        vocab.end_id,
        options.max_symbols,
        4 * options.max_symbols + 64,  # backtracking costs steps: bound the batch
        rewind=True,
    )
    stats.steps += batch.steps
    stats.notes += [rule.note for rule in rules]
    return [primer + vocab.decode(batch.result(b)) for b in range(num_tunes)]


def _mend_end(primer: str, text: str, symbols: Container[str]) -> str | None:
    """`text` (a tune that the model wants to end here) with its last bar line replaced by one
    that makes the tune whole (":|" closing an open repeat, "|]", "||") and written with
    `symbols` the model knows, or None."""
    body = text.rstrip()
    run = len(body) - len(body.rstrip("|:]"))
    lines = [line for line in (":|", "|]", "||") if all(char in symbols for char in line)]
    if not run or not lines:
        return None
    before = AbcScanner()  # the tune up to its last bar line, read once for every candidate
    before.feed(primer + body[:-run])
    for line in lines:
        trial = before.copy()
        trial.feed(line + "\n")
        trial.finish()
        if trial.verdict().every_bar_right:
            return f"{body[:-run]}{line}\n"
    return None
