"""An incremental ABC reader: feed it a tune a symbol at a time and ask what abc2midi would say.

`AbcScanner` follows one tune (ABC standard 2.1) as it is written: the header fields, then the
body's notes, rests, chords, tuplets, broken rhythm, ties, grace notes, bar lines, repeats and
endings. It keeps the time in the open bar as an exact `Fraction` of a whole note, plays the
repeats the way abc2midi does (`abc_playback.Playback`) and keeps the first error abc2midi
(abcmidi 2023-02-08, `abc2midi -c`) would report. A sampler feeds it every sampled symbol, asks
"would a bar line close a right bar here?", "how much time is left in this bar?", "can the tune
end here?", and backtracks with `copy()`. `check_text` (and `metre.check_tune`) give the
whole-tune verdict. The body's tokens and events are read by `abc_body.BodyReader`
and `abc_events.BodyEvents`, its lines and fields by `abc_lines.LineReader`.

Usage::

    scan = AbcScanner()
    scan.feed("X:1\\nM:6/8\\nL:1/8\\nK:D\\n")
    scan.feed("A|dfa")          # a symbol at a time works the same: feed("d"), feed("f")...
    scan.time_left()            # Fraction(3, 8); ticks_left() is the same in integer TICKS
    scan.bar_line_ok("|")       # False: the bar is short and not the first one
    saved = scan.copy()         # cheap; `saved` is unaffected by later feeding

Text is consumed when it can no longer change meaning (`A` may still become `A2`, `|` may become
`||` or `|:`, so a bar line counts in `bars` once the next character comes); `pending` holds the
rest, and the questions take it into account.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from tunegen.music import abc_playback as pb
from tunegen.music.abc_body import (
    _LENGTH,
    _LENGTH_CHARS,
    _LETTERS,
    _NO_TIME_PENDING,
    _NOTE,
    _PENDING,
    _PITCH_END,
)
from tunegen.music.abc_events import TICKS, BarRecord, _length, from_ticks
from tunegen.music.abc_lines import LineReader
from tunegen.music.abc_rules import length_problem

# open_note's reading of a pending note: (its length, its fermata), or None; by pending text
_OPEN_NOTES: dict[str, tuple[str, bool] | None] = {}
_UNPARSED = object()

__all__ = [
    "TICKS",
    "AbcScanner",
    "BarRecord",
    "OpenNote",
    "ScanVerdict",
    "check_text",
    "scan_text",
]


class OpenNote(NamedTuple):
    """A note still being written (`A` may become `A2` or `A/`): `length` as written so far,
    `room` the ticks it may last for its bar to stay within the metre, `fermata` (H doubles
    it), and `context` (unit, tuplet, fermata): with `length` and `room`, all that decides
    which length characters may follow. A tuple: the sampler asks for one at most steps."""

    length: str
    room: int
    fermata: bool
    context: tuple

    @property
    def shrinkable(self) -> bool:
        """A "/" may still follow: the length has no denominator yet and at most one slash
        (A, A2, A/, A3/; not A//, a 32nd note at L:1/8, nor A/2)."""
        slashes = self.length.count("/")
        return slashes == 0 or (slashes == 1 and self.length[-1] == "/")


@dataclass(frozen=True)
class ScanVerdict:
    """A tune's verdict: abc2midi reports no error; and no error and every bar right."""

    no_error: bool
    every_bar_right: bool
    problems: tuple[str, ...]


class AbcScanner(LineReader):
    """One tune read incrementally; see the module docstring. All times are whole notes.

    State to read: `in_header`, `ended`, `meter` (bar length, None for free metre), `unit` (L:),
    `key`, `bar_time` (time written since the last bar line), `counted_time` (abc2midi's count
    for the open bar, with what a short bar before `||` or a repeat's jump carries in), `bars`
    (closed bars as written), `bar_count`, `repeat_open`, `ending`, `pickup`, `error` (the
    first error abc2midi would report), `errors`, `wrong_bars`.
    """

    __slots__ = (
        "_accidentals",
        "_bar_closed_time",
        "_bar_pending",
        "_bar_written",
        "_broken",
        "_chord_deco",
        "_chord_first",
        "_chord_notes",
        "_chord_pitches",
        "_chord_short",
        "_chord_tie",
        "_chord_tied",
        "_ending",
        "_errors",
        "_grace_open",
        "_header_fields",
        "_horn_last",
        "_horn_meter",
        "_hornpipe",
        "_in_chord",
        "_in_grace",
        "_last_compare",
        "_last_len",
        "_last_part",
        "_last_pitches",
        "_last_short",
        "_last_tie_ok",
        "_last_trill",
        "_meter",
        "_new_bar",
        "_note_open",
        "_passback",
        "_pickup",
        "_play_before",
        "_section_bars",
        "_store_pos",
        "_tie",
        "_tie_pitches",
        "_trill_tie",
        "_tuplet_factor",
        "_tuplet_left",
        "_unit",
        "_voice",
        "_voice_errors",
        "_voice_names",
        "_voice_wrong",
        "_voices",
        "_warnings",
        "bars",
        "ended",
        "header",
        "in_header",
        "key",
        "line_start",
        "meter",
        "meter_text",
        "pending",
        "play",
        "rhythm",
        "unit",
        "unit_set",
    )  # fmt: skip

    def __init__(self, header: bool = True) -> None:
        """Start a tune; with `header=False` the body starts at once (M:4/4, L:1/8, K:C)."""
        self.in_header = header
        self.ended = False
        self.pending = ""  # text fed but not consumed yet
        self.line_start = True
        self.header: tuple[tuple[str, str], ...] = ()
        self.meter: Fraction | None = Fraction(1)
        self.meter_text = "4/4"
        self.unit = Fraction(1, 8)
        self._meter: int | None = TICKS  # the same two in ticks
        self._unit = TICKS // 8
        self._note_open = False  # `pending` is exactly one note that more text may lengthen
        self._passback = ""  # decorations !fermata! (H) and !breath! (.) for the next note
        self._chord_deco = ""  # decorations written before the open chord's [
        self._voice: str | None = None  # the voice being written (None: no V: yet)
        self._voice_names: tuple[str, ...] = ()
        # The other voices: (playback, bar time handed over, bar has music, position).
        self._voices: dict[str, tuple[pb.Playback, int, bool, int]] = {}
        self._voice_errors: tuple[str, ...] = ()  # the other voices' playback errors, bars
        self._voice_wrong: tuple[pb.BarCheck, ...] = ()
        self.unit_set = False
        self.key: dict[str, int] = {}
        self.rhythm = ""
        self._errors: tuple[str, ...] = ()
        self._warnings: tuple[str, ...] = ()
        self.play = pb.Playback(self._meter)
        self._bar_written = 0  # ticks of the open bar as written
        self._bar_pending = False  # the open bar has notes or rests
        self.bars: tuple[BarRecord, ...] = ()
        self._ending = ""
        self._accidentals: dict[tuple[str, int], int] = {}
        self._tuplet_factor = (
            1,
            1,
        )  # (q, p): notes in a tuplet last q/p of their length
        self._tuplet_left = 0
        self._in_chord = False
        self._chord_first: int | None = None
        self._chord_notes = 0
        self._chord_tie = -1
        self._chord_pitches: tuple[tuple[int, tuple[str, int]], ...] = ()
        self._chord_tied: tuple[tuple[int, tuple[str, int]], ...] = ()
        self._chord_short: tuple[tuple[int, tuple[str, int]], ...] = ()
        self._in_grace = False
        self._grace_open = False  # grace notes still waiting for their host note
        self._broken: tuple[str, int] | None = None  # > or <, and how many
        # the last note or chord, for broken rhythm: (ticks, play.raw_size, bars, voice)
        self._last_len: tuple[int, int, int, str | None] | None = None
        self._last_part = 0  # its ticks that a broken rhythm after it adjusts (_after_note)
        self._last_tie_ok = False  # a tie may follow: the last thing was a note, not staccato
        self._last_trill = False  # ... a trilled one (T, !trill!)
        self._last_compare: int | None = None
        self._hornpipe = False  # R:hornpipe in 2/4 or 4/4: abc2midi dots pairs of notes
        self._horn_meter = 4
        self._horn_last: tuple[int, int] | None = None
        self._store_pos = 0  # position in the bar as abc2midi's reader counts it (hornpipes)
        self._tie = False  # a tie waits for its note
        self._tie_pitches: tuple[tuple[int, tuple[str, int]], ...] = ()
        self._new_bar = False  # a bar line since the tie
        # the trilled note a tie goes on from (its _last_len), while its tie goes on
        self._trill_tie: tuple[int, int, int, str | None] | None = None
        self._pickup = 0
        self._section_bars = 0
        self._header_fields: dict[str, str] = {}
        self._bar_closed_time = 0  # ticks of the open bar already handed to `play`
        self._play_before: pb.Playback | None = None  # `play` before the last time handed to it
        self._last_pitches: tuple[tuple[int, tuple[str, int]], ...] = ()
        self._last_short: tuple[tuple[int, tuple[str, int]], ...] = ()  # its staccato notes

    # -- state -----------------------------------------------------------------------------

    def copy(self) -> AbcScanner:
        """An independent copy for backtracking (shares immutable parts; a few microseconds)."""
        other = AbcScanner.__new__(AbcScanner)
        _copy_fields(self, other)
        other.play = self.play.copy()
        return other

    @property
    def in_body(self) -> bool:
        return not self.in_header and not self.ended

    @property
    def errors(self) -> tuple[str, ...]:
        """Errors so far, in order (reading errors, then repeat errors from the playback)."""
        return self._errors + self._voice_errors + self.play.errors

    def error_count(self) -> int:
        """len(errors), without building the tuple (the sampler asks after every symbol)."""
        return len(self._errors) + len(self._voice_errors) + len(self.play.errors)

    def wrong_count(self) -> int:
        """len(wrong_bars), without building the tuple."""
        return len(self._voice_wrong) + len(self.play.wrong)

    def fault_counts(self) -> tuple[int, int]:
        """(error_count(), wrong_count()) in one call: a sampler asks after every symbol."""
        play = self.play
        return (
            len(self._errors) + len(self._voice_errors) + len(play.errors),
            len(self._voice_wrong) + len(play.wrong),
        )

    @property
    def error(self) -> str | None:
        """The first error abc2midi would report on the text read so far, or None."""
        errors = self.errors
        return errors[0] if errors else None

    @property
    def wrong_bars(self) -> tuple[pb.BarCheck, ...]:
        """Bars abc2midi would warn about ("Bar N has ... time units"), as played so far."""
        return self._voice_wrong + self.play.wrong

    @property
    def bar_count(self) -> int:
        """Bars closed so far, as written."""
        return len(self.bars)

    @property
    def open_bar(self) -> bool:
        """The bar being written has notes or rests (at the end: a last bar with no bar line)."""
        return self._bar_pending or bool(self._bar_written)

    @property
    def bar_time(self) -> Fraction:
        """Time written in the open bar, counting a note still being written (`A` of `A2`)."""
        return from_ticks(self._bar_closed_time + self._bar_written + self._pending_time())

    @property
    def counted_time(self) -> Fraction:
        """abc2midi's count for the open bar: `bar_time` plus time carried in from before."""
        return from_ticks(self._counted())

    def _counted(self) -> int:
        return self.play.bar_time + self._bar_written + self._pending_time()

    @property
    def repeat_open(self) -> bool:
        """A `|:` (or `::`) waits for its `:|`."""
        return self.play.expect_repeat and self.play.pass_ == 1

    @property
    def repeat_pass(self) -> int:
        """abc2midi's pass number where the tune is being read (2 after a :| until a |:)."""
        return self.play.pass_

    @property
    def ending(self) -> str:
        """The ending list ("1", "2", "1,3") of the bar being written, or ""."""
        return self._ending

    @property
    def pickup(self) -> Fraction:
        """Time of the current section's first bar when it was short (its pickup), else 0."""
        return from_ticks(self._pickup)

    # -- questions the sampler asks ----------------------------------------------------------

    def time_left(self) -> Fraction | None:
        """Time still to write for abc2midi to count the open bar full; None in free metre."""
        if self._meter is None:
            return None
        return from_ticks(self._meter - self._counted())

    def ticks_left(self) -> int | None:
        """`time_left()` in ticks (`TICKS` to a whole note): the same answer, faster."""
        if self._meter is None:
            return None
        return self._meter - self._counted()

    def open_note(self) -> OpenNote | None:
        """The note being written, while `pending` is exactly one plain note (not in a chord or
        grace notes, nor after a tie or broken rhythm) in a bar of known length: its length so
        far and the ticks it may last before the bar is too long (see OpenNote). Else None."""
        if (
            not self._note_open
            or self._meter is None
            or self._in_chord
            or self._in_grace
            or self._tie
            or self._broken
            or self._hornpipe
        ):
            return None
        parsed = _OPEN_NOTES.get(self.pending, _UNPARSED)
        if parsed is _UNPARSED:
            match = _NOTE.fullmatch(self.pending.lstrip())
            parsed = (
                None
                if match is None or match.group("micro") is not None
                else ("".join(match.group("num", "slashes", "den")), "H" in match.group("deco"))
            )
            if len(_OPEN_NOTES) > 8192:
                _OPEN_NOTES.clear()
            _OPEN_NOTES[self.pending] = parsed
        if parsed is None:
            return None
        length, fermata = parsed
        room = self._meter - self.play.bar_time - self._bar_written  # _counted() less the note
        tuplet = self._tuplet_factor if self._tuplet_left else None
        return OpenNote(length, room, fermata, (self._unit, tuplet, fermata))

    def length_ticks(self, length: str, fermata: bool = False) -> int | None:
        """Ticks a plain note of `length` ("", "2", "3/", "/4") written now would last, with the
        unit and tuplet in force and `fermata` (broken rhythm aside), or None for text that is
        not a length abc2midi reads without fault ("/3", "//2")."""
        match = _LENGTH.fullmatch(length)
        if match is None:
            return None
        num, slashes, den = match.groups()
        if den and (len(slashes) > 1 or length_problem(slashes, den)):
            return None
        return self._note_time(_length(num, slashes, den), fermata)

    def bar_line_ok(self, line: str = "|") -> bool:
        """Would bar line `line` (`|`, `||`, `|]`, `|:`, `:|`, `::`, `:|2`...) written now close a
        bar abc2midi finds right, with no new error? Pending text is read first.

        A `||` or `|]` after a short bar is right: abc2midi carries the bar's time on into the
        next bar (ask `time_left()` for a full bar). `|`, `||` and `|]` are answered at once;
        the repeat signs by reading them on a copy, since a `:|` plays its section again.
        """
        if self.ended or self.in_header:
            return False
        play = self.play
        pending = self.pending
        if pending == "|" and (line == "|" or line == "]"):
            pending, line = "", "||"  # written after a | it makes || or |]
        if (
            (line == "|" or line == "||" or line == "|]")
            and (
                not pending
                or (self._note_open and not (self._tie or self._broken or self._hornpipe))
                or pending in _NO_TIME_PENDING  # a slur, tuplet or > waiting for its note
            )
            and not (self._in_chord or self._in_grace)
            and not play.skipping
            and play.j == play.size
        ):
            meter = play.meter
            if meter is None:
                return True
            counted = play.bar_time + self._bar_written
            if self._note_open:
                time = self._pending_time()
                if not time and _PENDING.get(self._pending_key()) == -1:
                    return self._read_bar_line(line)  # a faulty note: read it properly
                counted += time
            if line != "|" and counted < meter and play.barno > 0:
                return True  # a short bar before || is carried on, not judged
            return not counted or counted == meter or (play.pass_ != 2 and play.barno == 0)
        return self._read_bar_line(line)

    def _read_bar_line(self, line: str) -> bool:
        trial = self.copy()
        wrong, errors = trial.wrong_count(), trial.error_count()
        trial.feed(line + " ")
        return trial.wrong_count() == wrong and trial.error_count() == errors

    def can_end(self) -> bool:
        """Could the tune end here: just after a bar line, with no error and no wrong bar?"""
        if self.in_header or self.ended:
            return False
        trial = self.copy()
        trial.finish()
        return bool(
            not trial.errors and not trial.play.wrong and trial.bars and not trial._bar_pending
        )

    # -- feeding -----------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """Read more of the tune: any piece, from one character to many lines."""
        if self._note_open and len(text) == 1:
            # The hot paths: one more character of the note being written (A -> A2 -> A2/),
            # or the next note's letter, which settles the note before it.
            if text in _LENGTH_CHARS or (text in "'," and self.pending[-1] in _PITCH_END):
                self.pending += text
                return
            if text in _LETTERS:
                match = _NOTE.match(self.pending)
                if (
                    match is not None
                    and match.end() == len(self.pending)
                    and match.group("micro") is None  # a microtone may be a bad note (=3B)
                ):
                    self._note_match(match)
                    self.pending = text
                    self.line_start = False
                    return
        if self.ended:
            return
        if "\n" not in text:
            self.pending += text
            if not self.in_header:
                self._consume(final=False)
            return
        *lines, last = text.split("\n")
        for line in lines:
            self.pending += line
            self._end_line()
            if self.ended:
                return
        self.pending += last
        if not self.in_header and self.pending:
            self._consume(final=False)

    def finish(self) -> ScanVerdict:
        """End the tune here (as at a blank line or the end of the file) and give the verdict."""
        if not self.ended:
            if self.pending:
                self._end_line()
            self._end_tune()
        return self.verdict()

    def verdict(self) -> ScanVerdict:
        """The verdict on what has been read (call `finish` first for a whole tune)."""
        errors, wrong = self.errors, self.wrong_bars  # every voice's
        problems = list(errors)
        problems += [
            f"bar {w.number} has {w.time} of a whole note, the metre {w.meter}"
            + (" (in repeat)" if w.repeat_pass == 2 else "")
            for w in wrong
        ]
        problems += self._warnings
        no_error = not errors
        return ScanVerdict(no_error, no_error and not wrong, tuple(problems))


_copy_fields = pb.slot_copier(AbcScanner.__slots__)


def scan_text(text: str) -> AbcScanner:
    """Read one tune's whole text (header and body) and end it."""
    scan = AbcScanner()
    scan.feed(text if text.endswith("\n") else text + "\n")
    scan.finish()
    return scan


def check_text(text: str) -> ScanVerdict:
    """The verdict on one tune's text: (no error, every bar right, problems), as abc2midi judges."""
    return scan_text(text).verdict()
