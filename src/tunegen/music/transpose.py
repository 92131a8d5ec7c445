"""Transpose ABC tunes to another key: signature, accidentals, octaves, chord symbols, K: changes.

A transposition is a diatonic interval (letter steps and semitones), so D major up a fourth is G
major and every F# becomes a B. Accidentals follow ABC 2.1 section 4.2 with abc2midi's default
(`%%propagate-accidentals pitch`): an accidental holds for that letter, in every octave, to the end
of the bar. A note gets an accidental in the new key where the old one had one, or where the new
key and the bar's accidentals so far would give it the wrong pitch.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from tunegen.music.abc import FIELD_LINE, Tune, normalise_tune
from tunegen.music.abc_syntax import (
    ACCIDENTAL_PATTERN,
    ACCIDENTALS,
    BAR,
    FINGERINGS,
    KEY_ACCIDENTAL,
    MAJOR_FIFTHS,
    MODE_FIFTHS,
    MODE_NAMES,
    SEMITONES,
    key_signature,
)

LETTERS = "CDEFGAB"
ACCIDENTAL_SIGNS = {value: sign for sign, value in ACCIDENTALS.items()}
# The 12 shifts of --transpose-all, as for MIDI: from 5 semitones down to 6 up, the original among.
ALL_SHIFTS = range(-5, 7)

_TONIC = re.compile(r"^([A-G])([#b]?)(\s*)([A-Za-z]*)(.*)$")
_MICROTONE = re.compile(r"[\^_](?:\d+/?\d*|/\d*)[A-Ga-g]")
# Decorations are copied as they are (as abc_rhythm reads them); "+E3A3+" is an ABC 1.6 chord.
_DECORATION = re.compile(r"![^!\s]{1,24}!|\+(?![A-Ga-g,'^_=]*\+)[^+\s\d]{1,24}\+")
_CHORD_SYMBOL = re.compile(r"([A-G])([#b]?)([^/]*)(?:/([A-Ga-g])([#b]?)([^/]*))?$")
# What may follow a chord root: m, maj7, dim, sus4, add9, 7b9... (not "Fine" or "D.C.")
_CHORD_QUALITY = re.compile(r"(?:m|min|maj|M|dim|aug|sus|add|o|\+|-|[0-9]|b|#|\(|\))*")


# One token of a body line, tried in this order; "other" is a run of characters that start none.
_TOKEN = re.compile(
    r'(?P<quote>"[^"]*"?)'
    rf"|(?P<deco>{_DECORATION.pattern})"
    r"|(?P<field>\[(?P<field_name>[A-Za-z]):(?P<field_value>[^\]]*)\])"
    rf"|(?P<micro>{_MICROTONE.pattern})"
    rf"|(?P<stray>(?:{ACCIDENTAL_PATTERN})(?![\^_=]*[A-Ga-g]))"
    rf"|(?P<bar>{BAR.pattern})"
    rf"|(?P<note>(?P<sign>{ACCIDENTAL_PATTERN})?(?P<name>[A-Ga-g])(?P<marks>[',]*))"
    r"|(?P<other>[^\"!+\[|:^_=A-Ga-g]+|.)"
)


class TransposeError(ValueError):
    """A tune (or a key) the transposer cannot handle; the message says why."""


@dataclass(frozen=True)
class Key:
    """A K: value split into tonic (letter and alteration), mode as written, and what follows."""

    letter: int  # index into LETTERS
    alteration: int  # -1 flat, 0, +1 sharp
    space: str
    mode: str
    rest: str

    @property
    def pitch_class(self) -> int:
        return (SEMITONES[LETTERS[self.letter]] + self.alteration) % 12

    @property
    def mode_fifths(self) -> int:
        """Sharps relative to the major key on the tonic: 0 major, -3 minor, -2 dorian, ..."""
        return mode_fifths(self.mode)

    @property
    def fifths(self) -> int:
        """Sharps (> 0) or flats (< 0) of the signature."""
        tonic = LETTERS[self.letter]
        return MAJOR_FIFTHS[tonic] + 7 * self.alteration + self.mode_fifths

    def text(self) -> str:
        sign = {1: "#", -1: "b", 0: ""}[self.alteration]
        return f"{LETTERS[self.letter]}{sign}{self.space}{self.mode}{self.rest}"


def mode_fifths(mode: str) -> int:
    """The mode's offset in MODE_FIFTHS; TransposeError for a mode ABC does not know."""
    word = mode.lower()
    name = word if word in ("", "m") else word[:3]
    if name == "":
        return 0
    if name not in MODE_FIFTHS or not _is_mode_word(word):
        raise TransposeError(f"unknown mode {mode!r}")
    return MODE_FIFTHS[name]


def _is_mode_word(word: str) -> bool:
    """ABC 2.1 s3.1.14 reads only 3 letters, but "Bn" or "Cced" are typing slips, not modes."""
    return word == "m" or any(name.startswith(word) for name in MODE_NAMES.values())


def parse_key(value: str) -> Key:
    """Split a K: value; TransposeError for keys with no tonic (none, HP, exp, clef only)."""
    match = _TONIC.match(value.strip())
    if not match:
        raise TransposeError(f"key {value!r} has no tonic")
    letter, sign, space, mode, rest = match.groups()
    if "exp" in rest.split():
        raise TransposeError(f"explicit key signature {value!r}")
    key = Key(LETTERS.index(letter), {"#": 1, "b": -1, "": 0}[sign], space, mode, rest)
    key.mode_fifths  # noqa: B018 -- raises for an unknown mode
    return key


def _signature(key: Key) -> dict[int, int]:
    """Alteration by letter index of a key, its explicit accidentals ("K:D =c") included."""
    tonic = key.text()[: len(key.text()) - len(key.rest)]
    extra = " ".join(t for t in key.rest.split() if _is_key_accidental(t))
    signature = key_signature(f"{tonic} {extra}")
    return {LETTERS.index(letter): shift for letter, shift in signature.items()}


def _is_key_accidental(token: str) -> bool:
    return KEY_ACCIDENTAL.fullmatch(token) is not None


@dataclass(frozen=True)
class Interval:
    """A diatonic interval: letter steps (7 per octave) and semitones, e.g. (3, 5) a fourth up."""

    steps: int
    semitones: int

    def move(self, letter: int, octave: int, alteration: int) -> tuple[int, int, int]:
        """(letter, octave, alteration) of a note moved by this interval."""
        total = letter + self.steps
        new_letter, new_octave = total % 7, octave + total // 7
        old = 12 * octave + SEMITONES[LETTERS[letter]] + alteration
        natural = 12 * new_octave + SEMITONES[LETTERS[new_letter]]
        return new_letter, new_octave, old + self.semitones - natural


def _steps_for(semitones: int, letter_steps: int) -> int:
    """The letter steps, = letter_steps mod 7, of an interval of `semitones` (octaves counted)."""
    natural = round(letter_steps * 12 / 7)
    return letter_steps + 7 * round((semitones - natural) / 12)


def _spell_tonic(pitch_class: int, mode: int) -> tuple[int, int]:
    """(letter, alteration) of the tonic on `pitch_class` whose signature has fewest accidentals."""
    best = None
    for letter, name in enumerate(LETTERS):
        for alteration in (0, 1, -1):
            if (SEMITONES[name] + alteration) % 12 != pitch_class:
                continue
            fifths = MAJOR_FIFTHS[name] + 7 * alteration + mode
            rank = (abs(fifths), fifths < 0)  # fewest accidentals; sharps on a tie (F# not Gb)
            if best is None or rank < best[0]:
                best = (rank, letter, alteration)
    assert best is not None
    return best[1], best[2]


def interval_to_key(key: Key, target: Key) -> Interval:
    """The interval from `key`'s tonic to `target`'s, at most 5 semitones down or 6 up."""
    semitones = (target.pitch_class - key.pitch_class + 5) % 12 - 5
    return Interval(_steps_for(semitones, (target.letter - key.letter) % 7), semitones)


def interval_by_semitones(key: Key, semitones: int) -> Interval:
    """The interval of `semitones` that lands on the best-spelt tonic in `key`'s mode."""
    letter, _ = _spell_tonic((key.pitch_class + semitones) % 12, key.mode_fifths)
    return Interval(_steps_for(semitones, (letter - key.letter) % 7), semitones)


def transpose_key(key: Key, interval: Interval) -> Key:
    """The key moved by `interval`: the tonic and any explicit accidentals; the mode as written."""
    letter, _, alteration = interval.move(key.letter, 0, key.alteration)
    if abs(alteration) > 1:
        raise TransposeError(f"no key signature for {key.text()!r} moved {interval.semitones:+d}")
    rest = " ".join(
        _move_key_accidental(token, interval) if _is_key_accidental(token) else token
        for token in key.rest.split(" ")
    )
    return replace(key, letter=letter, alteration=alteration, rest=rest)


def _move_key_accidental(token: str, interval: Interval) -> str:
    letter, _, alteration = interval.move(
        LETTERS.index(token[-1].upper()), 0, ACCIDENTALS[token[:-1]]
    )
    if abs(alteration) > 2:
        raise TransposeError(f"key accidental {token!r} moved {interval.semitones:+d}")
    return ACCIDENTAL_SIGNS[alteration] + LETTERS[letter].lower()


def transpose_chord_symbol(text: str, interval: Interval) -> str:
    """A chord symbol such as "Am7", "D/F#" or "Am/c" moved by `interval`; other text as it is."""
    match = _CHORD_SYMBOL.match(text)
    if not match or not _CHORD_QUALITY.fullmatch(match.group(3) + (match.group(6) or "")):
        return text
    root, root_sign, quality, bass, bass_sign, tail = match.groups()
    result = _move_name(root, root_sign, interval) + quality
    if not bass:
        return result
    moved_bass = _move_name(bass.upper(), bass_sign, interval)
    return f"{result}/{moved_bass if bass.isupper() else moved_bass.lower()}{tail}"


def _move_name(letter: str, sign: str, interval: Interval) -> str:
    alteration = {"#": 1, "b": -1, "": 0}[sign]
    new_letter, new_octave, new_alteration = interval.move(LETTERS.index(letter), 0, alteration)
    if abs(new_alteration) > 1:  # a chord on B## reads better as C#
        new_letter, _, new_alteration = _respell(new_letter, new_octave, new_alteration)
    sign = "#" * new_alteration if new_alteration > 0 else "b" * -new_alteration
    return LETTERS[new_letter] + sign


def _respell(letter: int, octave: int, alteration: int) -> tuple[int, int, int]:
    """The same pitch on a neighbouring letter with the smallest accidental (E# -> F, Cb -> B)."""
    pitch = 12 * octave + SEMITONES[LETTERS[letter]] + alteration
    options = []
    for step in (-1, 0, 1):
        total = letter + step
        new_letter, new_octave = total % 7, octave + total // 7
        new_alteration = pitch - 12 * new_octave - SEMITONES[LETTERS[new_letter]]
        options.append((abs(new_alteration), step != 0, new_letter, new_octave, new_alteration))
    _, _, best_letter, best_octave, best_alteration = min(options)
    return best_letter, best_octave, best_alteration


def _note_text(letter: int, octave: int) -> str:
    """ABC 2.1 s4.1: C is middle C (octave 0), c the octave above, c' and C, one more each way."""
    name = LETTERS[letter]
    return name.lower() + "'" * (octave - 1) if octave >= 1 else name + "," * -octave


class _Mover:
    """Transposes a tune body line by line, keeping the bar's accidentals on both sides."""

    def __init__(self, key: Key, interval: Interval) -> None:
        self.interval = interval
        self.set_key(key)
        self.old_bar: dict[int, int] = {}  # letter -> accidental written in this bar (old text)
        self.new_bar: dict[int, int] = {}  # the same for the new text

    def set_key(self, key: Key) -> str:
        new_key = transpose_key(key, self.interval)
        self.old_signature, self.new_signature = _signature(key), _signature(new_key)
        return new_key.text()

    def line(self, text: str) -> str:
        out: list[str] = []
        for match in _TOKEN.finditer(text):
            kind, token = match.lastgroup, match.group()
            if kind == "note":
                out.append(self.note(match["sign"], match["name"], match["marks"]))
            elif kind == "quote":
                inner = token[1:-1] if token.endswith('"') and len(token) > 1 else token[1:]
                if inner[:1] in FINGERINGS and self.interval.semitones:
                    continue  # a fingering is for the note where it was: moved, it is wrong
                if inner[:1] not in tuple("^_<>@"):
                    moved = transpose_chord_symbol(inner, self.interval)
                    token = '"' + moved + token[1 + len(inner) :]
                out.append(token)
            elif kind == "field":
                name, value = match["field_name"], match["field_value"]
                if name == "K":
                    value = self.set_key(parse_key(value))
                out.append(f"[{name}:{value}]")
            elif kind == "micro":
                raise TransposeError("microtonal accidental")
            elif kind == "stray":  # "=3Dg" (quoted-printable "="): which note it means is unclear
                raise TransposeError(f"accidental {token!r} with no note")
            elif kind == "bar":
                out.append(token)
                self.old_bar, self.new_bar = {}, {}
            else:  # decorations and everything else are copied
                out.append(token)
        return "".join(out)

    def note(self, sign: str | None, name: str, marks: str) -> str:
        letter = LETTERS.index(name.upper())
        octave = (1 if name.islower() else 0) + marks.count("'") - marks.count(",")
        if sign is not None:
            self.old_bar[letter] = ACCIDENTALS[sign]
        alteration = self.old_bar.get(letter, self.old_signature.get(letter, 0))
        new_letter, new_octave, new_alteration = self.interval.move(letter, octave, alteration)
        written = sign is not None
        if abs(new_alteration) > 2 or (abs(new_alteration) == 2 and abs(alteration) < 2):
            new_letter, new_octave, new_alteration = _respell(
                new_letter, new_octave, new_alteration
            )
            written = True
            if abs(new_alteration) > 2:
                raise TransposeError(f"no spelling for {sign or ''}{name}{marks}")
        in_effect = self.new_bar.get(new_letter, self.new_signature.get(new_letter, 0))
        if written or new_alteration != in_effect:
            self.new_bar[new_letter] = new_alteration
            return ACCIDENTAL_SIGNS[new_alteration] + _note_text(new_letter, new_octave)
        return _note_text(new_letter, new_octave)


def transpose_tune(tune: Tune, interval: Interval) -> Tune:
    """`tune` moved by `interval`; TransposeError (with the reason) if it cannot be done.
    Fingerings ("4") are left out: they belong to the notes where they were written."""
    value = tune.field("K")
    if value is None:
        raise TransposeError("no K: field")
    mover = _Mover(parse_key(value), interval)
    header = tuple(
        (name, transpose_key(parse_key(text), interval).text() if name == "K" else text)
        for name, text in tune.header
    )
    body = []
    for line in tune.body:
        field_line = FIELD_LINE.match(line)
        if field_line and field_line.group(1) == "K":
            body.append(f"K:{mover.set_key(parse_key(field_line.group(2)))}")
        elif field_line:
            body.append(line)  # w:, P:, M:, ... hold no notes
        else:
            body.append(mover.line(line))
    return Tune(header, tuple(body), tune.source)


def transpose_to(tune: Tune, tonic: str) -> Tune:
    """`tune` with its tonic moved to `tonic` (e.g. "G", "Bb"), at most 5 down or 6 up."""
    return transpose_tune(tune, interval_to_key(tune_key(tune), parse_key(tonic)))


def transpose_by(tune: Tune, semitones: int) -> Tune:
    """`tune` moved by `semitones`, its new tonic spelt with the fewest accidentals."""
    return transpose_tune(tune, interval_by_semitones(tune_key(tune), semitones))


def tune_key(tune: Tune) -> Key:
    value = tune.field("K")
    if value is None:
        raise TransposeError("no K: field")
    return parse_key(value)


@dataclass(frozen=True)
class TargetKey:
    """A key of --transpose: a tonic, and a mode only if one was written ("Bm", "Ador")."""

    text: str
    key: Key
    has_mode: bool

    def applies_to(self, tune_key: Key) -> bool:
        """A bare tonic ("D") takes a tune of any mode; "Bm" only minor tunes."""
        return not self.has_mode or self.key.mode_fifths == tune_key.mode_fifths


def parse_target_keys(text: str) -> tuple[TargetKey, ...]:
    """Read "D,G,A,E,Bm"; ValueError naming the first key that is not a tonic and mode."""
    targets = []
    for part in text.split(","):
        word = part.strip()
        try:
            key = parse_key(word)
        except TransposeError:
            key = None
        if key is None or key.rest.strip() or not word:
            raise ValueError(
                f"cannot read key {word!r} (want a tonic and mode, e.g. D, Bb, Bm, Ador)"
            )
        targets.append(TargetKey(word, key, bool(key.mode)))
    return tuple(targets)


@dataclass
class KeyAugmenter:
    """Copies of tunes in other keys (--transpose KEYS or --transpose-all), with counts.

    A tune that cannot be transposed stays in its own key only, counted under its reason.
    """

    targets: Sequence[TargetKey] = ()  # empty: every key (ALL_SHIFTS)
    counts: Counter[str] = field(default_factory=Counter)

    def copies(self, tune: Tune) -> list[Tune]:
        """The tune in each other target key (never the tune itself)."""
        try:
            key = tune_key(tune)
            if self.targets:
                intervals = [interval_to_key(key, t.key) for t in self.targets if t.applies_to(key)]
            else:
                intervals = [interval_by_semitones(key, s) for s in ALL_SHIFTS]
            moved = [transpose_tune(tune, i) for i in _unique(intervals) if i.semitones != 0]
        except TransposeError as err:
            self.counts[f"kept in own key ({err})"] += 1
            return []
        self.counts["transposed copies"] += len(moved)
        if moved:
            self.counts["tunes transposed"] += 1
        return moved

    def texts(self, text: str) -> list[str]:
        """copies() for a tune given as its text (Tune.text), as data.write_splits wants."""
        return [
            copy.text
            for copy in self.copies(
                normalise_tune(text.rstrip("\n").split("\n"), keep_metadata=True)
            )
        ]


def _unique(intervals: Iterable[Interval]) -> list[Interval]:
    return list(dict.fromkeys(intervals))
