"""music21's own transposition of a tune: the oracle the ABC transposer is tested against."""

from __future__ import annotations

import warnings

from tunegen.music.abc import Tune
from tunegen.music.abc_music21 import music21_score
from tunegen.music.abc_syntax import QUOTED
from tunegen.music.transpose import LETTERS, Interval, TransposeError, transpose_tune


def music21_interval(interval: Interval):
    """The music21 Interval from middle C to where `interval` takes it (e.g. C -> F# up)."""
    from music21 import interval as m21interval
    from music21 import pitch

    letter, octave, alteration = interval.move(0, 0, 0)
    sign = {-2: "--", -1: "-", 0: "", 1: "#", 2: "##"}[alteration]
    end = pitch.Pitch(f"{LETTERS[letter]}{sign}{4 + octave}")
    return m21interval.Interval(noteStart=pitch.Pitch("C4"), noteEnd=end)


def _chords_only(text: str) -> str:
    """Drop quoted text that ABC 2.1 s4.18 does not call a chord symbol (it starts with A-G) nor
    s4.19 an annotation (^ _ < > @ first): music21 would read "f" (forte) or "e" as a chord."""
    return QUOTED.sub(lambda m: m.group() if m.group(1)[:1] in "ABCDEFG^_<>@" else "", text)


def _score(tune: Tune):
    with warnings.catch_warnings():  # music21 warns about ABC it skips, the same on both sides
        warnings.simplefilter("ignore")
        return music21_score(_chords_only(tune.abc(1)))  # as ABC 2.1, as abc2midi reads it


def _pitches(score) -> list[float]:
    """Sounding pitches (MIDI numbers) of every note and chord note, in order; for a chord symbol,
    its pitch classes (music21 voices a chord symbol in an octave of its own choosing)."""
    from music21 import harmony

    pitches = []
    for element in score.flatten().notes:
        if isinstance(element, harmony.ChordSymbol):
            pitches.extend(p.ps % 12 for p in element.pitches)
        else:
            pitches.extend(p.ps for p in element.pitches)
    return pitches


def agrees_with_music21(tune: Tune, interval: Interval) -> tuple[bool | None, str]:
    """(verdict, detail): does our transposition sound as music21's does, every note?

    None when the transposer keeps the tune in its own key (TransposeError: detail says why) or
    music21 cannot read the tune at all.
    """
    try:
        moved = transpose_tune(tune, interval)
    except TransposeError as err:
        return None, f"kept in own key: {err}"
    try:
        expected = _pitches(_score(tune).transpose(music21_interval(interval)))
        got = _pitches(_score(moved))
    except Exception as err:  # music21 raises many kinds on odd ABC
        return None, f"music21 cannot read it: {type(err).__name__}"
    if expected == got:
        return True, ""
    where = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), None)
    if where is None:
        return False, f"{len(expected)} notes expected, {len(got)} written"
    return False, f"note {where + 1}: music21 {expected[where]}, ours {got[where]}"
