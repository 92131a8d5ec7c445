"""What the sampler asks of each tune as it is written: did a bar (or header line) just start,
did the text go wrong, what may not come next, and what text form control writes itself.

The ABC itself is read by `music.abc_scan.AbcScanner` (abc2midi's rules); this module turns its
answers into the sampler's events: BAR (save the model state: a bar starts with this symbol),
BAD (go back to the last bar start, see `reason`) or NONE.
"""

from __future__ import annotations

from typing import TypeVar

from tunegen.music.abc_playback import BarCheck
from tunegen.music.abc_rules import parse_meter
from tunegen.music.abc_scan import AbcScanner
from tunegen.sampling.form import FormPlan, rhythm_fits
from tunegen.sampling.header import METER_VALUE

NONE, BAR, BAD = 0, 1, 2
EOT = "<eot>"
_BAR_CHARS = frozenset("|:")
_CLOSERS = frozenset("|:]Z")  # pending text with one of these may close a bar
_RUN_CHARS = frozenset("|:]0123456789")
# parseabc.c: other fields are "not allowed in tune body". The sampler refuses I: and V: there too:
# a melody has one voice (abc2midi moves a late V: to a track of its own), and an I: line is an
# instruction abc2midi may not know. `grammar.UNWRITTEN_FIELDS` keeps them out of the header.
_BODY_FIELDS = frozenset("EKLMPQTdrswW+")
_UNWRITTEN_INLINE = ("[V:", "[I:")
_UNWRITTEN_PAIRS = frozenset((">~", "<~"))
_SETTLED = frozenset("ABCDEFGabcdefgzx,'0123456789/]")  # a full bar may be closed after these
_T = TypeVar("_T")
_ASK = object()  # TuneJudge._left before the body: ask the scanner
MAX_METRE = 4  # whole notes in a sampled M: bar (12/8 is 1.5, 4/2 is 2)
MAX_CODE_LINE = 26  # characters of a sampled K:, M:, L:, R: or Q: line (the books: 12 at most)
# Symbols of a sampled bar (the books: 82 at most, 99.9% under 33): a model caught in a loop of
# what takes no time (((((( or !trill!!trill!...) is sent back, not left to write to --max-chars
MAX_BAR_SYMBOLS = 120
CODE_FIELDS = frozenset(("K:", "M:", "L:", "R:", "Q:"))
# What a sampled key is written with (the corpora: K:G, K:Bb, K:F#, K:A Mixolydian, K:Hp); a
# K: line that goes on with notes, bar lines or slurs (K:G gfg|, K:(D/2E/2)) is bad (the
# sampler offers none of them there: grammar._Shared.not_key)
KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz #=")
USUAL_UNITS = frozenset(["1/1"] + [f"1/{2**k}" for k in range(1, 7)])  # sampled L: values


def usual_metre(value: str) -> bool:
    """Whether a sampled M: value is C, C|, none, or beats/unit (2+3/8) of at most MAX_METRE
    whole notes: abc2midi reads M:98 as 98 whole notes and M:6-8 as 6, bars no tune fills."""
    if not METER_VALUE.fullmatch(value):
        return False
    length, error = parse_meter(value)  # None: free metre
    return error is None and (length is None or length <= MAX_METRE)


def shallow_copy(obj: _T) -> _T:
    """`copy.copy` of a plain object (attributes in its __dict__), without copy's generic
    protocol (__reduce_ex__, copyreg): several times faster, and the sampler copies its rows and
    judges at every bar and header line."""
    other = object.__new__(type(obj))
    other.__dict__.update(obj.__dict__)
    return other


class TuneJudge:
    """One tune being written; `feed` returns NONE, BAR or BAD (see `reason`).

    `override` (text to write instead of the symbol just fed, which was not consumed), `then`
    (symbols to write after it) and `plain_run` (form control wrote a plain "|": the model may
    not extend it) tell the sampler what form control forces.
    """

    def __init__(self, form: FormPlan | None = None, final: str = "|]") -> None:
        self.scan = AbcScanner()
        self.final = final  # the closing bar line form control writes ("||" without "]")
        self.form = form if form is not None and form.active else None
        self.line = ""  # the header line being written
        self.lines = 0
        self.fields: dict[str, str] = {}
        self.reason = ""
        self.wrong_bar: BarCheck | None = None  # the bar of the wrong length BAD was for
        self.ban = ""  # a header field the tune cannot take (a second M:, an R: against M:)
        self.bar_start: TuneJudge | None = None
        self.after_bar_line = False  # the last symbols were a bar line: a bar may close next
        self.line_head = ""  # the first two symbols of the body line being written
        self.tail = ""  # the last three symbols of the body: an inline [V: or [I: field opens
        self.bar_symbols = 0  # symbols of the bar being written, its bar line's included
        self.override = ""
        self.then: list[str] = []
        self.plain_run = False
        self.plain_next = False  # the next forced "|" is a plain bar line of the part
        self.section = 0
        self.bars_in_part = 0
        self.target = None if self.form is None else self.form.bars_per_part
        self.part_text = ""
        self.parts: dict[str, str] = {}
        # The scanner's counts after the last body symbol: (errors, wrong bars), ticks left
        # (None: free metre); _ASK before the body's first symbol. Read at every symbol, and
        # the same until the next one is fed: asked of the scanner once, not three times.
        self._seen: tuple[int, int] | None = None
        self._left: int | object | None = _ASK

    def copy(self) -> TuneJudge:
        other = shallow_copy(self)
        other.scan = self.scan.copy()
        other.bar_start = None
        other.then = list(self.then)
        other.fields = dict(self.fields)
        other.parts = dict(self.parts)
        return other

    # ------------------------------------------------------------------------------ queries
    @property
    def in_header(self) -> bool:
        return self.scan.in_header

    def left(self) -> int | None:
        """Ticks still to write in the open bar (abc2midi's count); None in free metre."""
        left = self._left
        if left is _ASK:
            return self.scan.ticks_left()  # time_left() in integers: a Fraction is slow
        return left  # type: ignore[return-value]

    def can_end(self) -> bool:
        """Whether the tune may end now (only ever just after a bar line)."""
        return self.form is None and self.after_bar_line and self.scan.can_end()

    def bar_full(self) -> bool:
        """The open bar has exactly its metre's time and its last note is written out."""
        scan = self.scan
        return (
            scan.open_bar
            and self.left() == 0
            and (scan.pending[-1:] in _SETTLED or not scan.pending)
        )

    # ------------------------------------------------------------------------------ feeding
    def feed(self, symbol: str, forced: bool = False) -> int:
        """Read one symbol (a character, a token, or EOT); NONE, BAR or BAD."""
        if len(symbol) > 1 and symbol != EOT:  # a multi-character token
            code = NONE
            for char in symbol:
                code = max(code, self.feed(char, forced))
                if code == BAD:
                    break
            return code
        if self.scan.in_header:
            return self._header(symbol, forced)
        return self._body(symbol, forced)

    def _bad(self, reason: str, wrong_bar: BarCheck | None = None) -> int:
        self.reason, self.wrong_bar = reason, wrong_bar
        return BAD

    def _header(self, char: str, forced: bool) -> int:
        if char == EOT:
            return self._bad("header: the tune ends before its K: line")
        code = NONE
        if self.line == "" and self.lines > 0:
            self.bar_start = self.copy()
            code = BAR
        if char != "\n":
            self.line += char
            self.scan.feed(char)
            if forced:
                return code
            if len(self.line) > MAX_CODE_LINE and self.line[:2] in CODE_FIELDS:
                # a key, metre, unit, rhythm or tempo that runs on (K:A then the tune's notes)
                # is sampled again now, not at its end
                return self._bad(f"header: {self.line[:2]} line longer than {MAX_CODE_LINE}")
            if self.line[:2] == "K:" and len(self.line) > 2 and char not in KEY_CHARS:
                return self._bad(f"header: {self.line[:2]} line runs on with {char!r}")
            return code
        errors = self.scan.fault_counts()[0]
        line, self.line = self.line, ""
        self.lines += 1
        name, _, value = line.partition(":")
        problem = None if forced else self._field_problem(name, value.strip())
        if problem:
            return self._bad(f"header: {problem}")
        self.scan.feed(char)
        if not forced and self.scan.fault_counts()[0] > errors:
            return self._bad(f"header: {self.scan.errors[errors]}")
        self.fields[name] = value.strip()
        if not self.scan.in_header:
            self.after_bar_line = True  # the music starts: as after a bar line
            if self.form is not None and self.form.sections()[0][1] >= 2:
                self.then = list("|:")
        return code

    def _field_problem(self, name: str, value: str) -> str | None:
        """Header rules of the sampler's own (the scanner has abc2midi's): a usual M: and L:
        (usual_metre, USUAL_UNITS), one M:, R: and L:, and an R: that goes with M:
        (form.RHYTHMS). Sets `ban` to a field this tune cannot take at all."""
        self.ban = ""
        if name == "M" and not usual_metre(value):  # M:98, M:6-8: bars no tune fills
            return f"M:{value} is not a metre of at most {MAX_METRE} whole notes"
        if name == "L" and value not in USUAL_UNITS:  # L:6/8 for M:6/8: every note 3/4 long
            return f"L:{value} is not a unit note length from 1/1 to 1/64"
        self.ban = name if name in "MR" else ""  # a field that cannot stand in this tune
        if name in ("M", "R", "L") and name in self.fields:
            return f"a second {name}: line"
        if name == "M" and "R" in self.fields and not rhythm_fits(self.fields["R"], value):
            return f"R:{self.fields['R']} does not go with M:{value}"
        if name == "R" and "M" in self.fields and not rhythm_fits(value, self.fields["M"]):
            return f"R:{value} does not go with M:{self.fields['M']}"
        return None

    def _body(self, char: str, forced: bool) -> int:
        scan = self.scan
        # the judge as it was, should this symbol close a bar: only text waiting in the
        # scanner's pending can (`|` counts once the next symbol shows it is not `||`; `]|`
        # closes at its `|`, `|1,3` and `Z4` at what follows them)
        pending = scan.pending
        closing = pending and (self.after_bar_line or not _CLOSERS.isdisjoint(pending))
        before = self.copy() if closing else None
        errors, wrong = self._seen or self.scan.fault_counts()
        bars = len(scan.bars)
        if char == EOT:
            scan.finish()
        else:
            scan.feed(char)
        self._seen = counts = self.scan.fault_counts()
        self._left = left = scan.ticks_left()
        self.plain_run = False
        if forced and self.plain_next and char == "|":
            self.part_text += char
            self.plain_next, self.plain_run = False, True
        elif self.form is not None and not forced:
            self.part_text += char
        self.tail = (self.tail + char)[-3:]
        self.bar_symbols += 1
        if self.bar_symbols > MAX_BAR_SYMBOLS and not forced:
            return self._bad(f"bar {len(scan.bars) + 1} is longer than {MAX_BAR_SYMBOLS} symbols")
        if not forced and (
            char == "`"
            or self.tail in _UNWRITTEN_INLINE
            or (char == "~" and self.tail[-2:] in _UNWRITTEN_PAIRS)
        ):
            # a backquote is a reserved character abc2midi ignores; inline voices and
            # instructions are refused as their field lines are (see _BODY_FIELDS); abc2midi
            # counts a rolled note after broken rhythm (A>~B) in a way of its own (the scanner
            # follows it: A gets B's factor too), which no player would mean
            return self._bad(f"bar {len(scan.bars) + 1}: {self.tail!r} is not written")
        if char == "\n":
            self.line_head = ""
        elif len(self.line_head) < 2:
            self.line_head += char
            head = self.line_head
            if (
                head[-1:] == ":"
                and head[0].isalpha()
                and head[0] not in _BODY_FIELDS
                and not forced
            ):
                return self._bad(f"bar {len(scan.bars) + 1}: {head} not allowed in the body")
        # forced text too (form control's bar lines, its copies of a part, the tune's end): an
        # error it brings out (a broken rhythm with no note after it, a repeat left open) is
        # the bar's before it, which is sampled again
        if counts[0] > errors:
            return self._bad(f"bar {len(scan.bars) + 1}: {scan.errors[errors]}")
        if counts[1] > wrong:
            bad = scan.wrong_bars[wrong]
            return self._bad(f"bar {bad.number} has {bad.time}, the metre {bad.meter}", bad)
        if not forced and left is not None and left < 0 and not self._may_shorten():
            return self._bad(f"bar {len(scan.bars) + 1} is too long for M:{scan.meter_text}")
        self.after_bar_line = char in _BAR_CHARS or (
            self.after_bar_line and (char in _RUN_CHARS or char in " \n")
        )
        if len(scan.bars) > bars:
            self.bar_start = before or self.copy()
            self.bar_symbols = 1  # the new bar starts with this symbol
            return BAR
        return NONE

    def _may_shorten(self) -> bool:
        """The bar is too long only with the note being written as it stands, and that note
        may still be shortened to fit (`A` -> `A/`): it is judged once it is written out."""
        note = self.scan.open_note()
        return note is not None and note.room > 0 and note.shrinkable

    # ------------------------------------------------------------------------------ form
    def form_step(self) -> tuple[str, bool]:
        """Form control before a symbol is chosen: ("text", _) to force text now, or ("", True)
        when the model must choose between "|" and ":" (a full bar, parts of its own length)."""
        if self.form is None or self.scan.in_header or not self.bar_full():
            return "", False
        if self.target is None and self.bars_in_part + 1 < 16:
            return "", True
        return self._close_bar(":" if self.bars_in_part + 1 >= (self.target or 16) else "|"), False

    def choose_bar_line(self, char: str) -> str:
        """The text form control writes for the model's own "|" or ":" at a full bar."""
        return self._close_bar(":" if char == ":" and self.bars_in_part + 1 >= 2 else "|")

    def _close_bar(self, kind: str) -> str:
        self.bars_in_part += 1
        if kind == "|":
            self.plain_next = True
            return "|"
        return self._section_end()

    def _section_end(self) -> str:
        """Text that closes the current part and writes out what the form repeats or copies."""
        sections = self.form.sections()
        letter, count = sections[self.section]
        self.parts[letter] = self.part_text
        if self.target is None:
            self.target = self.bars_in_part
        last = self.section == len(sections) - 1
        text = ":|" if count >= 2 else self.final if last else "||"
        for _ in range(count - 2):
            text += "\n" + self.part_text + (self.final if last else "||")
        self.section += 1
        while self.section < len(sections) and sections[self.section][0] in self.parts:
            letter, count = sections[self.section]
            last = self.section == len(sections) - 1
            body = self.parts[letter]
            text += "\n" + ("|:" if count >= 2 else "") + body + (":|" if count >= 2 else "||")
            for _ in range(count - 2):
                text += "\n" + body + "||"
            self.section += 1
            if last:
                text = text[:-2] + (":|" if count == 2 else self.final)
        self.bars_in_part, self.part_text = 0, ""
        if self.section == len(sections):
            self.then = ["\n", EOT]
            return text
        return text + "\n" + ("|:" if sections[self.section][1] >= 2 else "")
