"""Header plans: the fields imposed on every sampled tune, and the per-tune header grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from tunegen.data.vocab import Vocabulary
from tunegen.errors import Setting, SettingError
from tunegen.music.abc import check_key
from tunegen.sampling.form import FormPlan
from tunegen.sampling.loop import KEEP, Batch


@dataclass(frozen=True)
class HeaderPlan:
    """Header fields to impose on every tune; the model writes the rest of the header itself."""

    title: str | None = None
    meter: str | None = None
    key: str | None = None
    rhythm: str | None = None  # R:, written after the metre (form control's --rhythm)

    def validate(self) -> None:
        """UsageError for a value that is not one ABC header line of its kind: a title with a
        line break would inject header fields, a metre like 7/0 or a key like Xyz would be
        written verbatim into every tune and refused by every renderer."""
        for name, value in (("title", self.title), ("meter", self.meter), ("key", self.key)):
            if value is not None and (not value.isprintable() or not value.strip()):
                raise SettingError(
                    Setting(name), f" must be one line of printable text, got {value!r}"
                )
        if self.meter is not None:
            match = METER_VALUE.fullmatch(self.meter.strip())
            numbers = re.findall(r"\d+", self.meter)
            if not match or any(int(n) == 0 for n in numbers):
                raise SettingError(
                    Setting("meter"),
                    f" must be C, C|, none or beats/unit such as 6/8 or 2+3/8, got {self.meter!r}",
                )
        if self.key is not None:
            try:
                check_key(self.key)
            except ValueError:
                raise SettingError(
                    Setting("key"), f" {self.key!r} is not an ABC key (e.g. D, Ador, Bm)"
                ) from None

    def opening(self) -> str:
        """Forced text at the start of a tune: the title line (or "T:"), then metre and rhythm."""
        if self.title is None:
            return "T:" if self.meter or self.rhythm else ""
        return f"T:{self.title}\n{self._metre_lines()}"

    def _metre_lines(self) -> str:
        meter = f"M:{self.meter}\n" if self.meter else ""
        return meter + (f"R:{self.rhythm}\n" if self.rhythm else "")


# An M: value (ABC 2.1 section 3.1.6): C, C|, none, or a (possibly additive) fraction.
METER_VALUE = re.compile(r"C\|?|none|\(?\d{1,3}(?:\+\d{1,3})*\)?/\d{1,3}")

# Header fields a tune may open with (ABC 2.1 section 3): X: is numbered by the tunebook.
HEADER_FIELDS = "ABCDFGHIKLMNOPQRSTUVWZ"
MAX_HEADER_LINES = 8  # then K: is forced, so every tune gets to its music


def header_starts(vocab: Vocabulary) -> np.ndarray:
    """Mask [V] of the symbols that may open a header line: a field letter or a "K:" token."""
    return np.array(
        [
            len(s) <= 2 and s[:1] in HEADER_FIELDS and s[1:] in ("", ":") and i > 0
            for i, s in enumerate(vocab.symbols)
        ]
    )


class HeaderConstraint:
    """Per-tune header grammar and forced text.

    Every header line is a field: it opens with a field letter and a colon; no tune ends in its
    header; after MAX_HEADER_LINES lines without K: the K: line is forced, so every tune has its
    key before its music. The plan forces its text: the opening, the meter after a free title,
    the key after "K:".
    """

    def __init__(self, plan: HeaderPlan, vocab: Vocabulary, starts: np.ndarray) -> None:
        self.plan, self.vocab, self.starts = plan, vocab, starts
        self.not_end = np.arange(len(vocab)) != vocab.end_id
        self.pending: list[int] = list(vocab.encode(plan.opening()))[::-1]
        self.meter_after_title = plan.title is None and bool(plan.meter or plan.rhythm)
        self.line = ""
        self.lines = 0
        self.in_header = True

    def forced(self) -> int | None:
        """The symbol this step must be, if any (call once per step)."""
        if not self.pending and self.line == "" and self.lines >= MAX_HEADER_LINES:
            self._queue("K:")
        if not self.pending and len(self.line) == 1:
            self._queue(":")  # a field letter is followed by its colon
        return self.pending.pop() if self.pending else None

    def allowed(self) -> np.ndarray:
        """Mask [V] of the symbols the model may choose from now: no tune ends in its header."""
        return self.starts if self.line == "" else self.not_end

    def observe(self, symbol: str) -> None:
        """Update after `symbol` was emitted; queue forced text when a trigger is reached."""
        if symbol != "\n":
            self.line += symbol
            if self.line == "K:" and self.plan.key is not None and not self.pending:
                self._queue(f"{self.plan.key}\n")
            return
        if self.line.startswith("K:"):
            self.in_header = False
        elif self.meter_after_title and self.line.startswith("T:"):
            self.meter_after_title = False
            self._queue(self.plan._metre_lines())
        self.line = ""
        self.lines += 1

    def _queue(self, text: str) -> None:
        self.pending = list(self.vocab.encode(text))[::-1]


def resolve_plans(plan: HeaderPlan, form: FormPlan) -> tuple[HeaderPlan, FormPlan]:
    """Check the form options against the header ones; the rhythm's R: and usual metre (unless
    a metre was given) go into the header plan."""
    form.validate(plan.meter)
    if form.rhythm is None:
        return plan, form
    return replace(plan, meter=plan.meter or form.meter(), rhythm=form.rhythm), form


class HeaderRule:
    """A row's rule for sampling without the grammar (see sampling.loop): its header constraint
    until the header ends, then nothing."""

    def __init__(self, header: HeaderConstraint, scale: float | None = None) -> None:
        self.header = header
        self.forced: int | None = None
        self.scale = scale  # options.header_scale: the header's own temperature

    @property
    def done(self) -> bool:
        return not self.header.in_header

    def prepare(self, logits: np.ndarray) -> None:
        self.forced = self.header.forced()
        if self.forced is None:
            if self.scale is not None:
                logits *= self.scale
            logits[~self.header.allowed()] = -np.inf

    def accept(self, batch: Batch, row: int, chosen: int) -> tuple[int, int]:
        symbol = chosen if self.forced is None else self.forced
        self.header.observe(self.header.vocab.symbols[symbol])
        return KEEP, symbol


def header_rules(
    plan: HeaderPlan, vocab: Vocabulary, num_tunes: int, primer: str, scale: float | None = None
) -> list[HeaderRule | None]:
    """One header rule per tune for ABC models (none for word streams such as MIDI), each
    having read the primer, so a primer that writes the header leaves the model free after it.
    `scale`: see options.header_scale."""
    if vocab.tokenizer == "words":
        return [None] * num_tunes
    starts = header_starts(vocab)
    primer_symbols = [vocab.symbols[i] for i in vocab.encode(primer)]
    rows = [HeaderConstraint(plan, vocab, starts) for _ in range(num_tunes)]
    for row in rows:
        for symbol in primer_symbols:
            row.observe(symbol)
    return [HeaderRule(row, scale) for row in rows]
