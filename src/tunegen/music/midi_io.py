"""Note events <-> Standard MIDI Files (format 1), written and read through symusic."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from tunegen.runtime.fileio import write_atomically

TICKS_PER_QUARTER = 480
DRUM_CHANNEL = 9  # General MIDI's percussion channel (counted from 0)
_MICROSECONDS_PER_MINUTE = 60_000_000


@dataclass(frozen=True)
class NoteEvent:
    """One sounding note; times are in quarter notes from the start of the tune."""

    pitch: int
    start: float
    duration: float
    velocity: int = 90
    channel: int = 0
    program: int = 0

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Performance:
    """The notes of a tune and its tempo: what both the MIDI writer and the synthesizer play."""

    events: tuple[NoteEvent, ...]
    qpm: float

    @property
    def end(self) -> float:
        """Where the last note stops, in quarter notes."""
        return max((event.end for event in self.events), default=0.0)

    def seconds(self, quarters: float) -> float:
        """Quarter notes -> seconds at this performance's tempo."""
        return quarters * 60.0 / self.qpm


def midi_header_problem(data: bytes) -> str | None:
    """Why `data` cannot be read as a format 0 or 1 Standard MIDI File, or None."""
    if not data:
        return "empty file"
    if data[:4] != b"MThd":
        return "not a MIDI file (no MThd header)"
    if len(data) < 14:
        return "truncated MIDI header"
    if struct.unpack(">H", data[8:10])[0] == 2:
        return "format 2 MIDI (independent sequences) is not supported"
    if struct.unpack(">H", data[12:14])[0] == 0:  # ticks per quarter note: every time is 0/0
        return "MIDI division 0 (no ticks per quarter note)"
    return None


def _ticks(quarters: float) -> int:
    return round(quarters * TICKS_PER_QUARTER)


def performance_to_midi(performance: Performance) -> bytes:
    """A format-1 MIDI file: the tempo, then one track per channel with its program.

    symusic numbers a track's channel by its place in the file (drums on 9), so the channels
    are written in order; a note ends on the tick its end rounds to, not start + duration, so
    that notes played straight after each other stay joined.
    """
    import symusic  # local import: only MIDI output needs it

    score = symusic.Score(TICKS_PER_QUARTER)
    # MIDI stores whole microseconds per quarter note
    mspq = round(_MICROSECONDS_PER_MINUTE / performance.qpm)
    score.tempos.append(symusic.Tempo(0, mspq=mspq))
    for channel in sorted({event.channel for event in performance.events}):
        events = [event for event in performance.events if event.channel == channel]
        track = symusic.Track(program=events[0].program, is_drum=channel == DRUM_CHANNEL)
        for event in events:
            start = _ticks(event.start)
            track.notes.append(
                symusic.Note(start, _ticks(event.end) - start, event.pitch, event.velocity)
            )
        score.tracks.append(track)
    return score.dumps_midi()


def midi_to_performance(data: bytes) -> Performance:
    """Read a MIDI file's notes and first tempo back into a `Performance` (sorted by start).

    Channels are numbered as `performance_to_midi` writes them: the pitched tracks 0, 1, ...
    in file order, drum tracks 9. A file that is not MIDI is a ValueError.
    """
    import symusic

    problem = midi_header_problem(data)
    if problem is not None:
        raise ValueError(problem)
    try:
        score = symusic.Score.from_midi(data)
    except RuntimeError as err:
        raise ValueError(f"truncated or corrupt MIDI ({err})") from None
    division = score.ticks_per_quarter
    events: list[NoteEvent] = []
    pitched = 0
    for track in score.tracks:
        channel = DRUM_CHANNEL if track.is_drum else pitched
        pitched += not track.is_drum
        events += [
            NoteEvent(
                note.pitch,
                note.time / division,
                note.duration / division,
                note.velocity,
                channel,
                track.program,
            )
            for note in track.notes
        ]
    events.sort(key=lambda e: (e.start, e.channel, e.pitch))
    # no tempo event: the MIDI default, 120 quarter notes per minute
    mspq = score.tempos[0].mspq if len(score.tempos) else 500_000
    return Performance(tuple(events), _MICROSECONDS_PER_MINUTE / mspq)


def write_midi(performance: Performance, path: Path) -> None:
    """Write `performance` as a Standard MIDI File (atomically)."""
    write_atomically(path, performance_to_midi(performance))


def read_midi(path: Path) -> Performance:
    """Read a Standard MIDI File's notes and tempo (any format 0/1 file)."""
    return midi_to_performance(path.read_bytes())
