"""Tokenize an ABC tune body into timed notes and bar lines, with exact `Fraction` durations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from tunegen.music.abc import FIELD_LINE, Tune
from tunegen.music.abc_syntax import ACCIDENTALS, BAR, NOTE_PATTERN, SEMITONES, key_signature

_NOTE = re.compile(rf"{NOTE_PATTERN}(\d*)(/*)(\d*)")
_REST = re.compile(r"([zx])(\d*)(/*)(\d*)")
_MULTI_REST = re.compile(r"[ZX](\d*)")
_MULTIPLIER = re.compile(r"(\d*)(/*)(\d*)")
_ENDING = re.compile(r"\[?(\d+(?:[-,]\d+)*)")
_INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]]*)\]")
_TUPLET = re.compile(r"\((\d)(?::(\d*))?(?::(\d*))?")
# Annotations and chord symbols "...", grace notes {...} and decorations !...! +...+ take no time.
_NO_TIME = re.compile(r'"[^"]*"?|\{[^}]*\}?|![^!\s]{1,24}!|\+[^+\s]{1,24}\+')


@dataclass
class Note:
    """A note (pitch as a MIDI number) or rest (pitch None); `tie` joins it to the next note."""

    pitch: int | None
    duration: Fraction
    tie: bool = False


@dataclass
class Bar:
    """The notes between two bar lines, the line that closes it and any ending that opens it."""

    notes: list[Note] = field(default_factory=list)
    end: str = ""
    ending: str = ""
    meter: Fraction | None = None
    rest_bars: int = 0  # a multi-bar rest Z4 stands for 4 full bars

    @property
    def duration(self) -> Fraction:
        return sum((note.duration for note in self.notes), Fraction(0))


def parse_meter(value: str | None) -> Fraction | None:
    """Bar length in whole notes for an M: value (C = 4/4, C| = 2/2); None for free metre."""
    value = (value or "").strip()
    if value in ("C", "C|"):
        return Fraction(1)
    match = re.match(r"^\(?([\d+]+)\)?\s*/\s*(\d+)", value)
    if not match or not match.group(2).isdigit() or int(match.group(2)) == 0:
        return None
    return Fraction(sum(int(n) for n in match.group(1).split("+") if n), int(match.group(2)))


def parse_unit(value: str | None, meter: Fraction | None) -> Fraction:
    """The L: unit note length; without one, 1/16 for metres under 3/4, else 1/8 (ABC 2.1 3.1.7)."""
    match = re.match(r"^\s*(\d+)\s*/\s*(\d+)", value or "")
    if match and int(match.group(2)):
        return Fraction(int(match.group(1)), int(match.group(2)))
    return Fraction(1, 16) if meter is not None and meter < Fraction(3, 4) else Fraction(1, 8)


def _length(digits: str, slashes: str, denominator: str) -> Fraction:
    """A length multiplier: "2", "/2", "/", "3/2", "//" (ABC 2.1 section 4.3)."""
    result = Fraction(int(digits) if digits else 1)
    if denominator:
        return result / int(denominator) / 2 ** (len(slashes) - 1)
    return result / 2 ** len(slashes)


def _tuplet(match: re.Match[str], compound: bool) -> tuple[Fraction, int]:
    """(time factor, notes affected) of a tuplet "(p:q:r" (ABC 2.1 section 4.13)."""
    p = int(match.group(1))
    default_q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
    q = int(match.group(2)) if match.group(2) else default_q
    r = int(match.group(3)) if match.group(3) else p
    return Fraction(q, p), r


class _Reader:
    """State while reading one tune body: metre, unit, key, tuplets and broken rhythm."""

    def __init__(self, tune: Tune) -> None:
        self.meter = parse_meter(tune.field("M"))
        self.unit = parse_unit(tune.field("L"), self.meter)
        self.key = key_signature(tune.field("K"))
        self.bars: list[Bar] = [Bar(meter=self.meter)]
        self.accidentals: dict[tuple[str, int], int] = {}
        self.tuplet_factor, self.tuplet_left = Fraction(1), 0
        self.broken_next = Fraction(1)

    def set_field(self, key: str, value: str) -> None:
        if key == "M":
            self.meter = parse_meter(value)
            self.bars[-1].meter = self.meter
        elif key == "L":
            self.unit = parse_unit(value, self.meter)
        elif key == "K":
            self.key = key_signature(value)

    def add(self, note: Note) -> None:
        note.duration *= self.broken_next
        self.broken_next = Fraction(1)
        if self.tuplet_left:
            note.duration *= self.tuplet_factor
            self.tuplet_left -= 1
        self.bars[-1].notes.append(note)

    def broken(self, signs: str) -> None:
        """a>b dots a and halves b; >> and >>> more so (ABC 2.1 section 4.4)."""
        short = Fraction(1, 2 ** len(signs))
        previous = self.bars[-1].notes[-1] if self.bars[-1].notes else None
        first, second = (2 - short, short) if signs[0] == ">" else (short, 2 - short)
        if previous is not None:
            previous.duration *= first
        self.broken_next = second

    def pitch(self, accidental: str | None, letter: str, octaves: str) -> int:
        octave = (1 if letter.islower() else 0) + octaves.count("'") - octaves.count(",")
        where = (letter.upper(), octave)
        if accidental is not None:
            self.accidentals[where] = ACCIDENTALS[accidental]
        shift = self.accidentals.get(where, self.key.get(letter.upper(), 0))
        return 60 + 12 * octave + SEMITONES[letter.upper()] + shift

    def bar_line(self, sign: str) -> None:
        self.bars[-1].end = sign
        self.bars.append(Bar(meter=self.meter))
        self.accidentals = {}

    def chord(self, text: str, start: int) -> int:
        """Read "[CEG]2": the chord lasts as long as its first note times the outer multiplier."""
        close = text.find("]", start)
        if close < 0:
            close = len(text)
        notes = list(_NOTE.finditer(text, start + 1, close))
        outer = _MULTIPLIER.match(text, close + 1)
        if notes:
            pitches = [self.pitch(m.group(1), m.group(2), m.group(3)) for m in notes]
            length = _length(*notes[0].group(4, 5, 6)) * _length(*outer.groups())
            self.add(Note(max(pitches), self.unit * length, text.startswith("-", outer.end())))
        return outer.end()


def read_bars(tune: Tune) -> list[Bar]:
    """Split a tune body into bars of timed notes; empty bars are kept (the caller drops them)."""
    reader = _Reader(tune)
    for line in tune.body:
        field_line = FIELD_LINE.match(line)
        if field_line:
            reader.set_field(field_line.group(1), field_line.group(2))
        else:
            _read_line(reader, line.rstrip("\\"))
    return reader.bars


def _read_line(reader: _Reader, text: str) -> None:
    """Read one line of music into `reader` (ABC 2.1 section 4)."""
    compound = reader.meter is not None and reader.meter.numerator in (6, 9, 12)
    i = 0
    while i < len(text):
        char = text[i]
        if (match := _NO_TIME.match(text, i)) is not None:
            i = match.end()
        elif (match := _NOTE.match(text, i)) is not None:
            pitch = reader.pitch(match.group(1), match.group(2), match.group(3))
            i = match.end()
            length = reader.unit * _length(*match.group(4, 5, 6))
            reader.add(Note(pitch, length, text.startswith("-", i)))
        elif (match := _REST.match(text, i)) is not None:
            reader.add(Note(None, reader.unit * _length(*match.group(2, 3, 4))))
            i = match.end()
        elif (match := _MULTI_REST.match(text, i)) is not None:
            reader.bars[-1].rest_bars = int(match.group(1) or 1)
            i = match.end()
        elif (match := _INLINE_FIELD.match(text, i)) is not None:
            reader.set_field(match.group(1), match.group(2))
            i = match.end()
        elif (match := BAR.match(text, i)) is not None:
            reader.bar_line(match.group())
            i = match.end()
            if (ending := _ENDING.match(text, i)) is not None:
                reader.bars[-1].ending = ending.group(1)
                i = ending.end()
        elif char == "[" and (ending := _ENDING.match(text, i)) is not None:
            reader.bars[-1].ending = ending.group(1)
            i = ending.end()
        elif char == "[":
            i = reader.chord(text, i)
        elif char == "(" and (match := _TUPLET.match(text, i)) is not None:
            reader.tuplet_factor, reader.tuplet_left = _tuplet(match, compound)
            i = match.end()
        elif char in "<>":
            signs = re.match(r"[<>]+", text[i:]).group()
            reader.broken(signs)
            i += len(signs)
        else:  # blanks, slurs, ties, decorations, spacers: no time
            i += 1
