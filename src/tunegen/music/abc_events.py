"""A tune body's events as abc2midi counts them: notes, rests, chords, ties, tuplets, bars."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction

from tunegen.music import abc_playback as pb
from tunegen.music.abc_rules import chord_symbol_problem

# ABC 2.1 section 4.1: semitones of the natural notes above C.
_SEMITONES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTAL = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2, "=^": 1, "=_": -1}
_ORNAMENTS = frozenset("R~T")  # roll, ornament (played as a cut), trill


@dataclass(frozen=True)
class BarRecord:
    """A bar as written, closed by `line`: its time, its metre and the ending it is in."""

    number: int  # 1-based, counting bars as written (bar lines that close music)
    time: Fraction
    line: str
    meter: Fraction | None
    ending: str = ""  # the ending ("1", "2", "1,3") the bar is in, if any


# Time is counted in integer ticks: a whole note has TICKS, which every length of note, unit,
# tuplet (up to 13) and broken rhythm divides. Integers keep the per-note cost low; the public
# properties give `Fraction`s of a whole note.
TICKS = pb.TICKS
_LENGTHS: dict[tuple[str, str, str], tuple[int, int]] = {}


def _length(num: str, slashes: str, den: str) -> tuple[int, int]:
    """abc2midi's readlen as (numerator, denominator): "2", "/", "//", "/3", "3/2" (ABC 2.1 4.3)."""
    key = (num, slashes, den)
    found = _LENGTHS.get(key)
    if found is not None:
        return found
    n = int(num) if num else 1
    n = n or 1
    if not slashes:
        d = 1
    elif den:
        d = (int(den) or 2) * 2 ** (len(slashes) - 1)
    else:
        d = 2 ** min(len(slashes), 10)
    if len(_LENGTHS) < 4096:
        _LENGTHS[key] = (n, d)
    return n, d


def to_ticks(time: Fraction) -> int:
    """A time in whole notes as ticks (exact for the lengths ABC writes)."""
    return time.numerator * TICKS // time.denominator


def from_ticks(ticks: int) -> Fraction:
    """Ticks as a time in whole notes."""
    return Fraction(ticks, TICKS)


def _passes(text: str) -> frozenset[int]:
    """Pass numbers of an ending list "1", "1,3", "1-3"."""
    passes: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        if low.isdigit():
            passes.update(range(int(low), int(high if high.isdigit() else low) + 1))
    return frozenset(passes)


class BodyEvents:
    """Methods that add a body's events to `AbcScanner`'s state (its `__slots__`): the notes,
    rests and chords `abc_body.BodyReader` reads, with ties, tuplets, broken rhythm and bars."""

    __slots__ = ()

    def _error(self, message: str) -> None:
        self._errors = (*self._errors, message)

    def _field_problem(self, problem: str | None) -> None:
        if problem:
            self._error(problem)

    def _note_time(self, length: tuple[int, int], fermata: bool) -> int:
        time = self._unit * length[0] // length[1]
        if self._tuplet_left:
            time = time * self._tuplet_factor[0] // self._tuplet_factor[1]
        return time * 2 if fermata else time

    # -- events ------------------------------------------------------------------------------

    def _pitch(self, acc: str | None, letter: str, octave: int) -> tuple[int, tuple[str, int]]:
        low = letter.lower()
        place = (low, octave + (1 if letter.islower() else 0))
        if acc is not None:  # a new dict, not an update: copies share the old one
            self._accidentals = {**self._accidentals, place: _ACCIDENTAL[acc]}
        shift = self._accidentals.get(place, self.key.get(low, 0))
        return 60 + 12 * place[1] + _SEMITONES[low] + shift, place

    def _note(
        self,
        acc: str | None,
        letter: str,
        octave: int,
        length: tuple[int, int],
        deco: str,
    ) -> None:
        pitch = self._pitch(acc, letter, octave)
        if self._in_grace:
            if "~" in deco:  # abc2midi plays ~ as grace notes: a group inside the group
                self._error("nested { not allowed")
            # abc2midi stores grace notes as notes: a tie may end on one or start from one.
            self._horn_last = None
            self._tie_check((pitch,))
            self._last_pitches, self._last_tie_ok, self._last_short = (pitch,), True, ()
            self._last_trill = False
            return
        if "~" in deco and self._grace_open and not self._in_chord:
            # abc2midi plays ~ as grace notes and the note: two grace groups in a row.
            self._error("Intervening note needed between grace notes")
        if "~" in deco and self._tie and not self._in_chord:
            # ... and a tie before it ends on its first grace note, a neighbour (B-~B2)
            self._error("Could not find note to be tied")
            self._tie = False
        self._grace_open = False
        self._sounding(length, deco, (pitch,))

    def _rest(self, length: tuple[int, int], deco: str) -> None:
        if self._in_grace:
            return
        self._grace_open = False
        if self._tie and not self._in_chord:
            self._error("Could not find note to be tied")
            self._tie = False
        self._sounding(length, deco, ())

    def _sounding(
        self,
        length: tuple[int, int],
        deco: str,
        pitches: tuple[tuple[int, tuple[str, int]], ...],
    ) -> None:
        """A note or rest (or a note inside a chord) of `length` units, with decorations."""
        if self._passback:
            deco += self._passback
            if not self._in_chord:
                self._passback = ""
        n, m = length
        time = self._unit * n // m
        q = p = 1
        if self._tuplet_left:
            q, p = self._tuplet_factor
            time = time * q // p
            if not self._in_chord:
                self._tuplet_left -= 1
        fermata = "H" in deco
        if self._in_chord:
            if fermata:
                time *= 2
            if pitches and any(c in _ORNAMENTS for c in deco + self._chord_deco):
                self._error("Rolls and trills not supported in chords")
            if pitches and "." in deco:  # stored as a note and a rest
                self._chord_short += pitches
            self._chord_notes += 1
            if self._chord_first is None:
                self._chord_first = time
                self._store_pos += time
            self._chord_pitches += pitches
            self._horn_last = None
            return
        if pitches:
            if self._hornpipe:
                self._hornpipe_note(n * q, m * p * self.unit.denominator)
            self._store_pos += time
            if fermata:
                time *= 2
        else:
            if fermata:
                time *= 2
            self._store_pos += time
            self._horn_last = None
        # abc2midi compares the lengths of broken-rhythm pairs as stored: a staccato note is
        # stored as a note of half its length and a rest, so it counts half.
        staccato = bool(pitches) and "." in deco
        rolled = bool(pitches) and "~" in deco
        trill = self._trill_tie if self._tie else None  # this note goes on a trilled one
        self._tie_check(pitches)
        if rolled and n == 3 * m:  # `~G3`: abc2midi stores three notes of a unit each
            self._after_note(time, time // 3, rolled, part=time // 3)
        else:
            self._after_note(time, time // 2 if staccato else time, rolled)
        if trill is not None and pitches:
            # abc2midi plays a trilled note for the time of its whole tie, where it stands
            moved = self._last_len[0] if self._last_len is not None else 0
            self._bar_written -= moved
            self._shift(trill, moved)
        else:
            self._trill_tie = None
        self._last_tie_ok = bool(pitches) and not staccato
        self._last_pitches, self._last_short = pitches, ()
        self._last_trill = "T" in deco

    def _hornpipe_note(self, num: int, denom: int) -> None:
        """R:hornpipe: abc2midi dots equal quavers (2/4: semiquavers) itself, pairing a note that
        starts off the beat with the note before it (store.c hornp)."""
        last, self._horn_last = self._horn_last, (num, denom)
        if last is None or num * last[1] != last[0] * denom or num != 1:
            return
        if denom * self._horn_meter != 32:
            return
        position = TICKS // math.gcd(self._store_pos, TICKS)  # the denominator of the position
        if position == 32 // self._horn_meter:
            self._broken = (">", 1)

    def _after_note(
        self, time: int, compare: int, rolled: bool = False, part: int | None = None
    ) -> None:
        """Add a note, rest or chord of `time` ticks to the bar, applying a broken rhythm.

        `compare` is the length abc2midi compares for broken rhythm (-1: a chord, which always
        passes, since abc2midi compares the chord's opening marker, of length 0/0); `rolled`:
        a note with a roll (~); `part`: the ticks of its last stored note, which a broken
        rhythm after it lengthens or shortens (None: all of it).
        """
        if self._broken is not None:
            sign, count = self._broken
            self._broken = None
            last = self._last_compare
            # a rolled note after a note or rest (A>~B): abc2midi compares no lengths, and
            # gives the stored note of A (a staccato note's first half) B's factor too
            odd = rolled and last is not None and last != -1
            if last is None or (not odd and last != compare and last != -1 and compare != -1):
                self._error("Cannot apply broken rhythm. Notes not equal durations")
            else:
                long = {1: 3, 2: 7, 3: 15}[count]
                half = (long + 1) // 2
                first, second = (long, 1) if sign == ">" else (1, long)
                self._lengthen_last(first, half)
                if odd and self._last_len is not None:
                    stored = last * first // half  # A's note as stored, with its own factor
                    self._shift_last(stored * second // half - stored)
                time = time * second // half
                if compare != -1:  # a note after > is stored shortened: a chain a>b>c compares that
                    compare = compare * second // half
        self._bar_written += time
        self._bar_pending = True
        # where the note's time is: still in _bar_written until the playback's next feature
        self._last_len = (time, self.play.raw_size, len(self.bars), self._voice)
        self._last_part = time if part is None else part
        self._last_compare = compare

    def _lengthen_last(self, first: int, half: int) -> None:
        """Broken rhythm: the note before lasts first/half of its length (store.c
        brokenadjust). abc2midi adjusts it where it was stored and counts bars afterwards, so a
        note before a bar line lengthens the bar it is in (`ABd|>ef`: that bar is long, the
        next one short)."""
        if self._last_len is not None:
            previous = self._last_part  # (`~G3>A`: its last third)
            self._shift_last(previous * first // half - previous)

    def _move_tied_time(self) -> None:
        """A tie written after a bar line (`F4|-F4`, `F4| -F4`, `F4||-F4`): abc2midi counts
        the tied note's time in the bar after the bar line, not in its own (`F4-|F4` keeps it
        where it is); a tied chord's time is counted in both bars."""
        last = self._last_len
        if last is None or last[2] == len(self.bars) or last[3] != self._voice:
            return  # no bar line since the note, or another voice's
        if self._last_compare != -1:  # a note, not a chord
            self._shift_last(-last[0])
        self._bar_written += last[0]
        self._bar_pending = True

    def _shift_last(self, delta: int) -> None:
        """Add `delta` ticks to the last note or chord, in the bar it was counted in."""
        assert self._last_len is not None
        self._shift(self._last_len, delta)

    def _shift(self, note: tuple[int, int, int, str | None], delta: int) -> None:
        """Add `delta` ticks to a note or chord (its `_last_len` record), in its bar."""
        _, raw_size, bars, voice = note
        if raw_size == self.play.raw_size or voice != self._voice:
            self._bar_written += delta  # not handed to the playback yet: still in this bar
            return
        self.play.lengthen(raw_size, delta, self._play_before)  # its time: the next feature
        if bars == len(self.bars):
            self._bar_closed_time += delta  # handed over within this bar (an ending, a metre)
        else:
            record = self.bars[bars]
            changed = replace(record, time=record.time + from_ticks(delta))
            self.bars = (*self.bars[:bars], changed, *self.bars[bars + 1 :])

    def _tie_check(self, pitches: tuple[tuple[int, tuple[str, int]], ...]) -> None:
        """The note, chord or grace note after a tie: abc2midi looks in it for every tied pitch
        (`[CE]2-C2`, `[C2-E2] F2`: not found)."""
        if not self._tie:
            return
        self._tie = False
        found = {pitch for pitch, _ in pitches}
        places = {place for _, place in pitches} if self._new_bar else set()
        for tied, tied_place in self._tie_pitches:
            if tied not in found and tied_place not in places:
                self._error("Could not find note to be tied")
                return

    def _tie_start(self) -> None:
        if self._in_chord:  # a tie on a chord's note (`[C2-E2]`), tied when the chord ends
            if self._chord_tie == self._chord_notes:
                self._error("Bad tie: possibly two ties in a row")
            self._chord_tie = self._chord_notes
            self._chord_tied += self._chord_pitches[-1:]  # (a staccato one: see _chord_off)
            return
        if self._tie and self._chord_tied and self._tie_pitches is self._chord_tied:
            self._tie = False  # `[C2-E2]-`: the tie after the chord ties all of its notes
        if self._tie and self._last_compare == -1 and not self._new_bar:
            return  # `[CE]2--`: abc2midi takes a chord's second tie as its first
        if self._tie:  # `C2--C2`, `C2-|-C2`: no note since the last tie
            self._error("Bad tie: possibly two ties in a row")
        elif self._last_tie_ok:
            self._tie = True
            tied_across = self._new_bar
            self._new_bar = False
            self._tie_pitches = self._last_pitches
            if self._last_trill:  # the trilled note takes the time of its tie (_sounding)
                self._trill_tie = self._last_len
            if self._trill_tie is not None:
                tied_across = False  # `TF4|-F4`: its time stays with the trill
            if self._last_short:  # `.[D2F2]-`: a staccato note of the chord is not tied
                self._error("Could not find note to be tied")
                untied = self._last_short
                self._tie_pitches = tuple(p for p in self._last_pitches if p not in untied)
            if tied_across:
                self._move_tied_time()
        else:
            self._error("Cannot find note before tie")

    def _chord_on(self) -> None:
        if self._in_chord:
            self._error("Attempt to nest chords")
            return
        self._in_chord = True
        self._chord_first = None
        self._chord_notes = 0
        self._chord_tie = -1  # the chord's notes before its last tie
        self._chord_pitches = ()
        self._chord_tied = ()  # the pitches of its notes with a tie of their own
        self._chord_short = ()  # ... of its notes written staccato (`[.DF]`)

    def _chord_off(self, match: re.Match[str]) -> None:
        if not self._in_chord:
            self._error("Chord already finished")
            return
        self._in_chord = False
        staccato = "." in self._chord_deco  # `.[DF]`: every note of it is staccato
        self._chord_deco = ""
        num, slashes, den = match.groups()
        # A staccato note is stored as a shorter note and a rest, which a tie from it finds
        # (`[.D2-F2]`, `.[D2F2]-`: "Could not find note to be tied"); after a chord length
        # (`[.D-F]2`) abc2midi ties its notes as they are.
        short = () if num or slashes else self._chord_pitches if staccato else self._chord_short
        if any(tied in short for tied in self._chord_tied):
            self._error("Could not find note to be tied")
            self._chord_tied = tuple(tied for tied in self._chord_tied if tied not in short)
        if num or slashes:
            time = self._note_time(_length(num, slashes, den), False)
        else:
            time = self._chord_first or 0
        if self._tuplet_left:
            self._tuplet_left -= 1
        if self._chord_notes == 0:
            return
        self._grace_open = False
        pitches = self._chord_pitches
        self._tie_check(pitches)
        self._after_note(time, -1)
        self._last_tie_ok = True
        self._last_pitches, self._last_short = pitches, short
        self._last_trill, self._trill_tie = False, None
        if self._chord_tied:  # the notes tied inside the chord wait for the next note
            self._tie, self._tie_pitches, self._new_bar = True, self._chord_tied, False

    def _chord_symbol(self, text: str) -> None:
        problem = chord_symbol_problem(text)
        if problem:
            self._error(problem)

    def _tuplet_start(self, match: re.Match[str]) -> None:
        if self._tuplet_left:
            self._error("nested tuples")
            return
        p = int(match.group(1))
        q_text, r_text = match.group(2), match.group(3)
        if q_text:
            q = int(q_text)
        elif p < 2 or p > 9:
            self._error("Only tuples (2 - (9 allowed")
            return
        else:
            compound = self.meter is not None and self._meter_num() % 3 == 0
            q = {2: 3, 4: 3, 8: 3, 3: 2, 6: 2}.get(p, 3 if compound else 2)
        r = int(r_text) if r_text else p
        if q == 0:
            return
        self._tuplet_factor = (q, p)
        self._tuplet_left = r

    def _meter_num(self) -> int:
        text = self.meter_text
        if text[:1] in ("C", "c"):
            return 2 if text[1:2] == "|" else 4
        digits = re.findall(r"\d+", text.split("/")[0])
        return sum(int(d) for d in digits) if digits else 4

    def _broken_rhythm(self, sign: str, count: int) -> None:
        if count > 3:
            self._error(f"Too many {sign}'s")
        elif self._in_chord:
            self._error("Broken rhythm not allowed in chord")
        elif self._in_grace:
            self._error("Broken rhythm not allowed in grace notes")
        else:
            self._broken = (sign, count)

    def _multi_rest(self, count: int) -> None:
        for index in range(count):
            bar = self._meter if self._meter is not None else TICKS
            self._rest((bar, self._unit), "")
            if index != count - 1:
                self._bar(pb.SINGLE, "")

    def _play_ending(self, text: str) -> None:
        self._flush_time()
        self._ending = text
        self.play.add(pb.PLAY, _passes(text))

    def _flush_time(self) -> None:
        if self._bar_written:
            self._play_before = self.play.copy()  # for a broken rhythm after it (_lengthen_last)
            self.play.add(pb.DUR, (self._bar_written, len(self.bars) + 1))
            self._bar_closed_time += self._bar_written
            self._bar_written = 0

    def _bar(self, kind: str, endings: str) -> None:
        """A bar line of `kind` (abc_playback's SINGLE...), with the ending list after it."""
        written = self._bar_closed_time + self._bar_written
        self._flush_time()
        line = kind + endings
        if written or self._bar_pending:
            number = len(self.bars) + 1
            time = from_ticks(written)
            self.bars = (
                *self.bars,
                BarRecord(number, time, line, self.meter, self._ending),
            )
            if self._section_bars == 0:
                short = self._meter is not None and written < self._meter
                self._pickup = written if short else 0
            self._section_bars += 1
        if kind != pb.SINGLE:
            self._section_bars = 0
            self._ending = ""
        self._bar_closed_time = 0
        self._store_pos = 0
        self._bar_pending = False
        if kind in (pb.SINGLE, pb.DOUBLE):
            self._grace_open = False  # abc2midi drops grace notes that a | or || follows
        self._accidentals = {}
        self._new_bar = True
        self.play.add(pb.BAR, kind)
        if endings:
            self._play_ending(endings)
