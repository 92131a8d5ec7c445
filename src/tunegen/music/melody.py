"""Melodies as (MIDI pitch, duration in whole notes) pairs, read from ABC tunes or MIDI files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from tunegen.errors import CorpusError
from tunegen.music.abc import Tune
from tunegen.music.abc_rhythm import Bar, read_bars

Melody = list[tuple[int, Fraction]]


def abc_melody(tune: Tune) -> Melody:
    """The notes of `tune` in order, rests left out and tied notes of one pitch joined."""
    return bars_melody(read_bars(tune))


def bars_melody(bars: list[Bar]) -> Melody:
    """The melody of a tune read with `read_bars`."""
    melody: Melody = []
    tied = False
    for bar in bars:
        for note in bar.notes:
            if note.pitch is None:
                tied = False
                continue
            if tied and melody and melody[-1][0] == note.pitch:
                melody[-1] = (note.pitch, melody[-1][1] + note.duration)
            else:
                melody.append((note.pitch, note.duration))
            tied = note.tie
    return melody


def midi_melody(path: Path) -> Melody:
    """The top line of a MIDI file: at each onset the highest pitch, durations in whole notes."""
    import music21  # local import: slow to import, and only MIDI input needs it

    try:
        score = music21.converter.parse(str(path), format="midi")
    except Exception as err:  # music21 raises many kinds of error for bad MIDI data
        raise CorpusError(f"{path}: not a readable MIDI file ({err})") from err
    onsets: dict[Fraction, tuple[int, Fraction]] = {}
    for element in score.flatten().notes:
        pitch = max(p.midi for p in element.pitches)
        onset = Fraction(element.offset).limit_denominator(96)
        duration = Fraction(element.quarterLength).limit_denominator(96) / 4
        if onset not in onsets or pitch > onsets[onset][0]:
            onsets[onset] = (pitch, duration)
    return [onsets[onset] for onset in sorted(onsets)]
