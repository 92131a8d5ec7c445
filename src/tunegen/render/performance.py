"""ABC tune text -> a `Performance` of note events, through music21's ABC parser.

Repeats and first/second endings are written out (ABC 2.1 section 4.8), tied notes merged and
chord symbols ("G", "Am7", "D/F#", section 4.18) realised as a simple accompaniment: the chord
struck on every beat in a lower octave, with its bass note in octave 2 on each chord change and
each bar's first beat. The tempo is the first Q: field (section 3.1.8); later changes are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from tunegen.errors import RenderError
from tunegen.music.abc_music21 import music21_score
from tunegen.music.midi_io import NoteEvent, Performance

# Tempo when the tune has no Q: field, as quarter notes per minute, keyed by the beat length
# in quarter notes: reels in 2/2 or C| at half = 80, jigs and slides in 6/8, 9/8, 12/8 at dotted
# quarter = 100, anything else at quarter = 120.
DEFAULT_QPM = 120.0
DEFAULT_QPM_BY_BEAT = {2.0: 160.0, 1.5: 150.0}

MELODY_CHANNEL, CHORD_CHANNEL = 0, 1
CHORD_PROGRAM = 24  # General MIDI acoustic guitar (nylon), counted from 0
MELODY_VELOCITY, CHORD_VELOCITY, BASS_VELOCITY = 90, 55, 65
_EPS = 1e-6


@dataclass(frozen=True)
class PlayOptions:
    """How to play a tune: the melody's General MIDI program (0-127) and the chord symbols."""

    program: int = 0
    chords: bool = True


def parse_abc(text: str, beams: bool = True):  # -> music21 Score; music21 is slow to import
    """Parse one ABC tune with music21 (as ABC 2.1); any parser failure becomes a one-line
    `RenderError`."""
    try:
        score = music21_score(text, beams)
    except Exception as err:  # music21 raises many unrelated types for bad ABC
        raise RenderError(f"ABC not understood ({_first_line(err)})") from err
    if not score.flatten().notes:
        raise RenderError("ABC has no notes")
    return score


def _first_line(err: Exception) -> str:
    return (str(err).strip().split("\n", 1)[0] or type(err).__name__)[:200]


def tempo_qpm(score) -> float:
    """Quarter notes per minute: the Q: field if there is one, else a default for the metre."""
    from music21 import meter, tempo

    flat = score.flatten()
    mark = next(iter(flat.getElementsByClass(tempo.MetronomeMark)), None)
    if mark is not None and mark.number:
        return float(mark.getQuarterBPM())
    signature = next(iter(flat.getElementsByClass(meter.TimeSignature)), None)
    beat = float(signature.beatDuration.quarterLength) if signature else 1.0
    return DEFAULT_QPM_BY_BEAT.get(beat, DEFAULT_QPM)


def _repeat(barline, direction: str) -> int:
    """How many times a repeat barline plays its section (0 if it is not that kind of repeat)."""
    if getattr(barline, "direction", None) != direction:
        return 0
    return barline.times or 2


def measure_order(measures: list) -> list[int]:
    """Indices of `measures` in playing order, with repeats and numbered endings written out.

    An end repeat with no start repeat goes back to the tune's start or to the previous end
    repeat, as ABC 2.1 section 4.8 says; a start repeat with no end is played once.
    """
    from music21 import spanner

    endings: dict[int, tuple[int, list[int]]] = {}  # measure index -> (bracket id, numbers)
    index = {id(m): i for i, m in enumerate(measures)}
    for measure in measures:
        for bracket in measure.getSpannerSites([spanner.RepeatBracket]):
            members = [index[id(m)] for m in bracket.getSpannedElements() if id(m) in index]
            for i in members:
                endings[i] = (id(bracket), [n for n in bracket.numberRange if n] or [1])
    order: list[int] = []
    i, start, passes = 0, 0, 1
    while i < len(measures):
        if len(order) > 20 * len(measures):
            raise RenderError("repeats do not end")
        measure = measures[i]
        if _repeat(measure.leftBarline, "start") and i != start:
            start, passes = i, 1
        ending = endings.get(i)
        if ending and passes not in ending[1]:
            i += 1
            continue
        order.append(i)
        times = _repeat(measure.rightBarline, "end")
        if times and passes < times:
            i, passes = start, passes + 1
            continue
        bracket_ends = ending and endings.get(i + 1, (None,))[0] != ending[0]
        if times or bracket_ends:
            start, passes = i + 1, 1
        i += 1
    return order


def _unrolled(part) -> Iterator[tuple[float, object, list]]:
    """(time the bar starts, bar, its elements flattened) for each bar in playing order.

    music21 makes no bars of a tune with fewer than two plain bar lines: that plays as one bar.
    """
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        yield 0.0, part, list(part.flatten())
        return
    time = 0.0
    for i in measure_order(measures):
        measure = measures[i]
        yield time, measure, list(measure.flatten())
        time += float(measure.duration.quarterLength)


def _melody(part, program: int) -> list[NoteEvent]:
    """The part's notes and chords in playing order, tied notes merged into one event."""
    from music21 import chord, harmony, note

    events: list[NoteEvent] = []
    tied: dict[int, int] = {}  # pitch -> index of the event a tie continues
    for bar_time, _, elements in _unrolled(part):
        for element in elements:
            length = float(element.quarterLength)
            sounding = isinstance(element, (note.Note, chord.Chord))
            if not sounding or isinstance(element, harmony.ChordSymbol) or length <= 0:
                continue  # rests, clefs, chord symbols, and grace notes, which take no time
            start = bar_time + float(element.offset)
            tie = element.tie.type if element.tie else None
            for pitch in (p.midi for p in element.pitches):
                held = tied.pop(pitch, None)
                if held is not None and abs(events[held].end - start) < _EPS:
                    events[held] = replace(events[held], duration=events[held].duration + length)
                    index = held
                else:
                    events.append(
                        NoteEvent(pitch, start, length, MELODY_VELOCITY, MELODY_CHANNEL, program)
                    )
                    index = len(events) - 1
                if tie in ("start", "continue"):
                    tied[pitch] = index
    return events


def _harmony(part) -> tuple[list[tuple[float, object]], list[tuple[float, bool]]]:
    """The chord symbols with their times, and every beat as (time, is the bar's first beat)."""
    from music21 import harmony, meter

    symbols: list[tuple[float, object]] = []
    beats: list[tuple[float, bool]] = []
    signature = meter.TimeSignature("4/4")
    for bar_time, measure, elements in _unrolled(part):
        signature = measure.timeSignature or signature
        beat = float(signature.beatDuration.quarterLength)
        end = bar_time + float(measure.duration.quarterLength)
        pickup = float(getattr(measure, "paddingLeft", 0.0))  # a pickup bar starts mid-bar
        time, number = bar_time - pickup, 0
        while time < end - _EPS:
            if time >= bar_time - _EPS:
                beats.append((time, number == 0))
            time, number = time + beat, number + 1
        symbols += [
            (bar_time + float(e.offset), e) for e in elements if isinstance(e, harmony.ChordSymbol)
        ]
    return symbols, beats


def _accompaniment(part, end: float) -> list[NoteEvent]:
    """Each chord symbol struck on every beat until the next one; its bass on changes and bars."""
    from music21 import harmony

    symbols, beats = _harmony(part)
    events = []
    for number, (start, symbol) in enumerate(symbols):
        stop = symbols[number + 1][0] if number + 1 < len(symbols) else end
        if isinstance(symbol, harmony.NoChord) or not symbol.pitches or stop <= start + _EPS:
            continue
        strikes = [(start, True)] + [(t, down) for t, down in beats if start + _EPS < t < stop]
        chord = [p.midi for p in symbol.pitches]
        bass = symbol.bass().midi % 12 + 36
        for k, (time, downbeat) in enumerate(strikes):
            until = strikes[k + 1][0] if k + 1 < len(strikes) else stop
            voices = [(p, CHORD_VELOCITY) for p in chord] + [(bass, BASS_VELOCITY)] * downbeat
            events += [
                NoteEvent(p, time, until - time, v, CHORD_CHANNEL, CHORD_PROGRAM) for p, v in voices
            ]
    return events


def score_to_performance(score, options: PlayOptions = PlayOptions()) -> Performance:
    """Play a parsed score: repeats expanded, ties merged, chord symbols realised if wanted."""
    parts = list(score.parts) or [score]
    events = [event for part in parts for event in _melody(part, options.program)]
    if not events:
        raise RenderError("ABC has no notes")
    if options.chords:
        events += _accompaniment(parts[0], max(event.end for event in events))
    events.sort(key=lambda e: (e.start, e.channel, e.pitch))
    return Performance(tuple(events), tempo_qpm(score))


def abc_to_performance(text: str, options: PlayOptions = PlayOptions()) -> Performance:
    """Parse one ABC tune (without beaming, which playing does not need) and play it."""
    return score_to_performance(parse_abc(text, beams=False), options)
