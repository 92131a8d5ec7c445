"""Judge a tune as it is written, one symbol at a time: header values, bar lengths, repeats, form.

The sampler asks it after every symbol: did a bar (or header line) just start (BAR: save the
model state here), did the text go wrong (BAD: go back to the last bar start), may the tune end
now, and is text forced (form control). Bar lengths are measured with `music.abc_rhythm`.
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction

from tunegen.form import FormPlan, rhythm_fits
from tunegen.music.abc import check_key
from tunegen.music.abc_rhythm import _read_line, _Reader, key_signature, parse_meter, parse_unit

NONE, BAR, BAD = 0, 1, 2
EOT = "<eot>"
_FIELD_LETTERS = "ABCDFGHIKLMNOPQRSTUVWZ"
_DECORATIONS = ".~HLMOPSTuv"  # ABC 2.1 section 4.14: one-letter decorations
_NOTE_LETTERS = "ABCDEFGabcdefg"
_LETTERS = _NOTE_LETTERS + _DECORATIONS + "zxyZX"
_AFTER_DECORATION = _NOTE_LETTERS + _DECORATIONS + "^_=[z!"
_AFTER_BROKEN = _NOTE_LETTERS + "^_=[z(<>.~HLMOPSTuv!{"
_QUOTE_STARTS = "ABCDEFG^_<>@"
_NOTE_TAIL = re.compile(r"([A-Ga-g])[,']*[\d/]*$")
_TEMPO = re.compile(r'(?:"[^"]*"\s*)?(?:(?:\d+/\d+\s*)+=\s*)?\d+(?:\s*"[^"]*")?|"[^"]*"')
_TUPLET_OPEN = re.compile(r"\(\d+(?::\d*)?$")  # "(3" or "(3:2": a colon here is the tuplet's


class _NoTune:
    """Stands in for a Tune when a bar reader is made: the judge sets metre, unit and key."""

    def field(self, name: str) -> None:
        return None


def _fraction_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value}"


class TuneJudge:
    """State of one tune while it is written; `feed` returns NONE, BAR or BAD (see `reason`)."""

    def __init__(self, form: FormPlan | None = None) -> None:
        self.form = form if form is not None and form.active else None
        self.in_header = True
        self.line = ""
        self.lines = 0
        self.fields: dict[str, str] = {}
        self.meter: Fraction | None = None
        self.unit = Fraction(1, 8)
        self.key: dict[str, int] = {}
        # body
        self.bar_text = ""
        self.quote = self.bang = self.brace = self.bracket = False
        self.quote_first = False  # the next symbol opens a quoted chord name or annotation
        self.tie = ""  # the letter of a note tied with "-" to the next one
        self.run = ""  # the bar line being written: "|", ":|", "|:", "||", "|1", ...
        # Bar time as abc2midi counts it (genmidi.c checkbar/softcheckbar): a plain "|" checks
        # the bar; "||", "|:", ":|", "::" check it only when full, else the time carries over.
        self.carry = Fraction(0)  # time in the open bar before `bar_text`
        self.total = Fraction(0)  # carry + bar_text, measured when a bar line starts
        self.bars = 0  # bars with notes closed so far (abc2midi's barno)
        self.head = Fraction(0)  # time from the repeat start to its first checked bar line
        self.head_base = Fraction(0)  # carry at the repeat start
        self.head_open = True  # still measuring `head`
        self.repeat_open = False  # an explicit |: or :: waits for its :| (store.c fixreps)
        self.closed_before = False  # a :| was written
        self.endings = 0  # [1, [2 ... seen
        self.ending_base = Fraction(0)  # carry where the first ending starts
        self.field_line = False
        self.body_fresh = False
        self.ended = False
        self.reason = ""
        self.ban = ""  # a header field the tune cannot take (a second M:, an R: against M:)
        self.bar_start: TuneJudge | None = None
        # form control
        self.override = ""  # text forced in place of the symbol just fed (not consumed)
        self.then: list[str] = []  # symbols forced after the symbol just fed
        self.plain_run = False  # a forced plain "|": the model may not extend it
        self.closing = ""  # "plain"/"section": verdict given, the next bar line only opens
        self.section = 0
        self.bars_in_part = 0
        self.target = None if self.form is None else self.form.bars_per_part
        self.part_text = ""
        self.parts: dict[str, str] = {}

    def copy(self) -> TuneJudge:
        other = copy.copy(self)
        other.bar_start = None
        other.then = list(self.then)
        other.parts = dict(self.parts)
        other.fields = dict(self.fields)
        return other

    # ------------------------------------------------------------------------------ queries
    @property
    def can_end(self) -> bool:
        """Whether the end of the tune may come now: after a closing bar line, no repeat open."""
        if self.in_header or self.bars == 0 or self.form is not None:
            return False
        if self.run:
            if self.run[-1] in ":0123456789":
                return False
            return not self.repeat_open or self.run.startswith(":")
        return not self.bar_text.strip() and not self.repeat_open

    # ------------------------------------------------------------------------------ feeding
    def feed(self, symbol: str, forced: bool = False) -> int:
        """Read one symbol (a character, or EOT); NONE, BAR (a bar or header line starts with
        this symbol) or BAD (the text since the last bar start cannot stand: see `reason`)."""
        if len(symbol) > 1 and symbol != EOT:  # a multi-character token
            code = NONE
            for char in symbol:
                code = max(code, self.feed(char, forced))
            return code
        if self.in_header:
            return self._header(symbol, forced)
        return self._body(symbol, forced)

    def _bad(self, reason: str) -> int:
        self.reason = reason
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
            return code
        line, self.line = self.line, ""
        self.lines += 1
        name, _, value = line.partition(":")
        value = value.strip()
        problem = None if forced else self._field_problem(name, value)
        if problem:
            self.ban = name if name in "MR" and "M" in self.fields else ""
            return self._bad(f"header: {problem}")
        self.fields[name] = value
        if name == "M":
            self.meter = parse_meter(value)
            self.unit = parse_unit(self.fields.get("L"), self.meter)
        elif name == "L":
            self.unit = parse_unit(value, self.meter)
        elif name == "K":
            self.key = key_signature(value)
            self.in_header = False
            self.bar_start = None
            self.body_fresh = True
            self._open_body()
        return code

    def _field_problem(self, name: str, value: str) -> str | None:
        """Why a header line abc2midi would refuse, or None."""
        if name in "MLRK" and name in self.fields:
            return f"a second {name}: line"
        if name == "K":
            try:
                check_key(value)
            except ValueError as error:
                return str(error)
        if name == "M" and ((value != "none" and parse_meter(value) is None) or value == "none"):
            return f"M:{value} is not a metre"
        if name == "M" and "R" in self.fields and not rhythm_fits(self.fields["R"], value):
            return f"R:{self.fields['R']} does not go with M:{value}"
        if name == "R" and "M" in self.fields and not rhythm_fits(value, self.fields["M"]):
            return f"R:{value} does not go with M:{self.fields['M']}"
        if name == "Q" and not _TEMPO.fullmatch(value):
            return f"Q:{value} is not a tempo"
        if name == "L" and not (value.startswith("1/") and value[2:].isdigit()):
            return f"L:{value} is not a unit note length"
        return None

    def _open_body(self) -> None:
        if self.form is not None and self.form.sections()[0][1] >= 2:
            self.then = list("|:")

    def _body(self, char: str, forced: bool) -> int:
        if self.body_fresh:  # the first symbol of the music: a bar starts here
            self.body_fresh = False
            self.bar_start = self.copy()
            code = self._body(char, forced)
            return BAR if code == NONE else code
        if self.field_line:
            if char == "\n":
                self.field_line = False
                return self._body_field(self.line, forced)
            self.line += char
            return NONE
        if self.run:
            if char in "|:]" or char.isdigit():
                return self._run_char(char, forced)
            return self._end_run(char, forced)
        return self._bar_char(char, forced)

    def _body_field(self, line: str, forced: bool) -> int:
        name, _, value = line.partition(":")
        if name == "M":
            if parse_meter(value) is None and not forced:
                return self._bad(f"bar {self.bars + 1}: M:{value} is not a metre")
            self.meter = parse_meter(value)
        elif name == "L":
            self.unit = parse_unit(value, self.meter)
        elif name == "K":
            self.key = key_signature(value)
        self.line = ""
        return NONE

    def _bar_char(self, char: str, forced: bool) -> int:
        if char == EOT:
            if self.bar_text.strip() or self.bars == 0:
                return self._bad(f"bar {self.bars + 1}: the tune ends without its closing bar line")
            if self.repeat_open:
                return self._bad(f"bar {self.bars}: missing :| at the end of the tune (abc2midi)")
            self.ended = True
            return NONE
        if self.quote and self.bar_text.endswith('"') and not forced and self.quote_first:
            self.quote_first = False  # abc2midi reads "..." as a chord name unless ^_<>@ opens it
            if char not in _QUOTE_STARTS:
                return self._bad(f"bar {self.bars + 1}: chord symbol {char!r} not A-G (abc2midi)")
        if self.quote or self.bang or self.brace:
            self.quote ^= char == '"'
            self.bang ^= char == "!"
            self.brace &= char != "}"
            self.bar_text += char
            self._part(char, forced)
            if char == "\n":
                self.quote = self.bang = self.brace = False
            return NONE
        if char == ":" and self.bar_text[-1:] and self.bar_text[-1] in _FIELD_LETTERS:
            before = self.bar_text[:-1]
            if before.endswith("\n") or (before == "" and self.bars == 0):  # a field line, "P:B"
                self.field_line, self.line = True, self.bar_text[-1] + ":"
                self.bar_text = before
                if self.form is not None and not forced:
                    self.part_text = self.part_text[:-1]
                return NONE
        if not self.bracket and not forced:
            problem = self._syntax(char, self.bar_text[-1:])
            if problem:
                return self._bad(f"bar {self.bars + 1}: {problem} (abc2midi)")
        if self.bracket:
            if char == "]":
                self.bracket = False
            elif self.bar_text.endswith("[") and char.isdigit():  # an ending [1, [2
                self.bracket = False
                if not forced and self._ending(char, False, self.bars + 1) == BAD:
                    return BAD
                if char != "1":
                    self.carry = self.ending_base
        elif char == "|" or (char == ":" and not _TUPLET_OPEN.search(self.bar_text[-6:])):
            return self._start_run(char, forced)
        elif char == "[":
            self.bracket = True
        elif char == '"':
            self.quote = self.quote_first = True
        elif char == "!":
            self.bang = True
        elif char == "{":
            self.brace = True
        self.bar_text += char
        self._part(char, forced)
        return NONE

    def _syntax(self, char: str, previous: str) -> str | None:
        """What abc2midi would refuse in `char` after `previous` (outside chords and quotes)."""
        if previous and previous in _DECORATIONS and char not in _AFTER_DECORATION:
            return f"decoration {previous!r} before {char!r}, not a note"
        if previous and previous in "<>" and char not in _AFTER_BROKEN:
            return f"broken rhythm before {char!r}, not a note"
        if char.isalpha():
            if char not in _LETTERS:
                return f"{char!r} is not a note, rest or decoration"
            if char in _NOTE_LETTERS and self.tie:
                tie, self.tie = self.tie, ""
                if char != tie:
                    return f"a tie from {tie} to {char}, not the same note"
            elif char in "zxZX" and self.tie:
                return "a tie to a rest"
        elif char == "-":
            tail = _NOTE_TAIL.search(self.bar_text[-8:])
            self.tie = tail.group(1) if tail else ""
        return None

    def _part(self, char: str, forced: bool) -> None:
        if self.form is not None and not forced:
            self.part_text += char

    # ------------------------------------------------------------------------------ bars
    def measure(self, text: str) -> tuple[Fraction, bool]:
        """(duration, has notes) of the music in `text` under the metre, unit and key in force."""
        reader = _Reader(_NoTune())  # type: ignore[arg-type]
        reader.meter, reader.unit, reader.key = self.meter, self.unit, self.key
        _read_line(reader, text)
        notes = [note for bar in reader.bars for note in bar.notes]
        return sum((note.duration for note in notes), Fraction(0)), bool(notes)

    def _start_run(self, char: str, forced: bool) -> int:
        if self.closing:  # the verdict was given when the model chose this bar line
            self.plain_run = self.closing == "plain"
            self.closing = ""
            self.run = char
            if self.plain_run:
                self.part_text += char
            return NONE
        duration, notes = self.measure(self.bar_text)
        self.total = total = self.carry + duration
        number = self.bars + 1
        if self.meter is not None and total > self.meter:
            what = f"bar {number} has {_fraction_text(total)} where M: asks"
            return self._bad(f"{what} {_fraction_text(self.meter)} (too long)")
        if self.form is not None and not forced:
            if notes and total != self.meter:
                what = f"bar {number} has {_fraction_text(total)} where M: asks"
                return self._bad(f"{what} {_fraction_text(self.meter)} (short in form control)")
            if notes:
                self.bars_in_part += 1
            if notes and self._part_end_due(char):
                self.closing = "section"
                self.override = self._section_end()
                return NONE
            if char == ":":
                self.closing = "plain"
                self.override = "|"
                return NONE
            self.plain_run = True
            self.part_text += char
        self.run = char
        return NONE

    def _part_end_due(self, char: str = "|") -> bool:
        if self.target is not None:
            return self.bars_in_part >= self.target
        return self.bars_in_part >= 16 or (char == ":" and self.bars_in_part >= 2)

    def _run_char(self, char: str, forced: bool) -> int:
        run = self.run + char
        number = self.bars + 1
        if char == ":" and run.endswith("|:") and self.repeat_open and not run.startswith(":"):
            return self._bad(f"bar {number}: |: inside a repeat that is still open (abc2midi)")
        if char.isdigit() and not run[-2].isdigit():
            code = self._ending(char, run.startswith(":"), number)
            if code == BAD:
                return code
        self.run = run
        return NONE

    def _ending(self, digit: str, closing: bool, number: int) -> int:
        """An ending [1 or |2 ...: abc2midi wants an open |: before the first one."""
        if not self.endings and not (self.repeat_open and not closing):
            return self._bad(f"bar {number}: ending {digit} before any |: (abc2midi)")
        if self.endings == 0 or digit == "1":
            self.ending_base = self.carry
        self.endings += 1
        return NONE

    def _end_run(self, char: str, forced: bool) -> int:
        sign = self.run.rstrip("0123456789")
        closing, opening = sign.startswith(":"), sign.endswith(":") and len(sign) > 1
        code = self._close_bar(sign, closing, opening, forced)
        if code == BAD:
            return code
        if self.run[len(sign) :][:1] not in (
            "",
            "1",
        ):  # |2: the pass that plays it starts where 1 did
            self.carry = self.ending_base
        self.run, self.plain_run, self.bar_text = "", False, ""
        self.bar_start = self.copy()
        if char == EOT:
            return self._bar_char(char, forced)
        self._bar_char(char, forced)
        return BAR

    def _close_bar(self, sign: str, closing: bool, opening: bool, forced: bool) -> int:
        """Apply abc2midi's bar and repeat rules to the bar closed by `sign` (store.c fixreps,
        genmidi.c checkbar/softcheckbar)."""
        number, total, meter = self.bars + 1, self.total, self.meter
        if closing and opening and not self.repeat_open and not forced:
            return self._bad(f"bar {number}: :: before any |: (abc2midi)")
        hard = sign == "|"
        if meter is None:
            checked = True
        elif hard or total >= meter or self.bars == 0:
            checked = True
            if total not in (0, meter) and self.bars > 0 and not forced:
                what = f"bar {number} has {_fraction_text(total)} where M: asks"
                return self._bad(f"{what} {_fraction_text(meter)} (short)")
        else:
            checked = False
        if checked:
            if self.head_open and total:
                self.head, self.head_open = total - self.head_base, False
            self.bars += total > 0
            self.carry = Fraction(0)
        else:
            self.carry = total
        # the repeat plays again from its start with this bar's time carried in
        if (
            closing
            and meter is not None
            and not forced
            and (self.head_open or self.carry + self.head != meter)
        ):
            what = f"bar {number}: the bar before :| and the repeat's first bar make"
            time = self.carry + (self.head if not self.head_open else total)
            return self._bad(f"{what} {_fraction_text(time)}, not a bar (in repeat)")
        if closing:
            self.repeat_open, self.closed_before = False, True
        if opening:
            self.repeat_open = True
        # Where a later :| jumps back to: |:, :: or :|; a "||" too, but only after the first :|
        # (before it, abc2midi goes back to the start of the tune; tried with abc2midi 2023-02-08)
        if closing or opening or (sign == "||" and self.closed_before):
            self.head_base, self.head_open, self.head = self.carry, True, Fraction(0)
        return NONE

    # ------------------------------------------------------------------------------ form
    def _section_end(self) -> str:
        """Text that closes the current part and writes out what the form repeats or copies."""
        sections = self.form.sections()
        letter, count = sections[self.section]
        self.parts[letter] = self.part_text
        if self.target is None:
            self.target = self.bars_in_part
        last = self.section == len(sections) - 1
        text = ":|" if count >= 2 else "|]" if last else "||"
        for _ in range(count - 2):
            text += "\n" + self.part_text + ("|]" if last else "||")
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
                text = text[:-2] + (":|" if count == 2 else "|]")
        self.bars_in_part, self.part_text = 0, ""
        if self.section == len(sections):
            self.then = ["\n", EOT]
            return text
        return text + "\n" + ("|:" if sections[self.section][1] >= 2 else "")
