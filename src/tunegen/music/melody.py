"""Melodies as (MIDI pitch, duration in whole notes) pairs, read from ABC tunes or MIDI files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from tunegen.music.abc import Tune
from tunegen.music.abc_rhythm import Bar, read_bars
from tunegen.music.midi import read_midi_parts

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
    """The top line of a MIDI file's pitched parts: at each onset the highest pitch, durations
    in whole notes, read through symusic (`read_midi_parts`); a bad file is a CorpusError.

    Notes are taken as written: music21, which read them before, quantised onsets to a 1/4 and
    1/3 quarter grid and cut notes at the bar lines of an assumed 4/4.
    """
    onsets: dict[Fraction, tuple[int, Fraction]] = {}
    for part in read_midi_parts(path):
        if part.is_drum:  # a drum's "pitch" names an instrument, not a note
            continue
        for start, pitch, length in part.notes:
            onset = Fraction(float(start)).limit_denominator(960)
            duration = Fraction(float(length)).limit_denominator(960) / 4
            if onset not in onsets or pitch > onsets[onset][0]:
                onsets[onset] = (int(pitch), duration)
    return [onsets[onset] for onset in sorted(onsets)]
