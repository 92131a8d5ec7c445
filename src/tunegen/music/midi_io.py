"""Note events <-> Standard MIDI Files (format 1), written and read with no dependencies."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_QUARTER = 480
_META_TEMPO = 0x51
_META_END = 0x2F


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


def _varlen(value: int) -> bytes:
    """A MIDI variable-length quantity (7 bits per byte, high bit set on all but the last)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack(">I", len(data)) + data


def _ticks(quarters: float) -> int:
    return round(quarters * TICKS_PER_QUARTER)


def _track(messages: list[tuple[int, int, bytes]]) -> bytes:
    """A track chunk from (tick, order, message) triples; order puts note-offs before note-ons."""
    data = bytearray()
    now = 0
    for tick, _, message in sorted(messages, key=lambda m: (m[0], m[1])):
        data += _varlen(tick - now) + message
        now = tick
    data += _varlen(0) + bytes([0xFF, _META_END, 0])
    return _chunk(b"MTrk", bytes(data))


def performance_to_midi(performance: Performance) -> bytes:
    """A format-1 MIDI file: a tempo track, then one track per channel with its program change."""
    tempo = round(60_000_000 / performance.qpm)
    tracks = [_track([(0, 0, bytes([0xFF, _META_TEMPO, 3]) + tempo.to_bytes(3, "big"))])]
    for channel in sorted({event.channel for event in performance.events}):
        events = [event for event in performance.events if event.channel == channel]
        messages = [(0, 0, bytes([0xC0 | channel, events[0].program]))]
        for event in events:
            start, end = _ticks(event.start), _ticks(event.end)
            messages.append((start, 2, bytes([0x90 | channel, event.pitch, event.velocity])))
            messages.append((end, 1, bytes([0x80 | channel, event.pitch, 0])))
        tracks.append(_track(messages))
    header = struct.pack(">HHH", 1, len(tracks), TICKS_PER_QUARTER)
    return _chunk(b"MThd", header) + b"".join(tracks)


def _read_varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos


def _read_track(data: bytes, tempo: list[int], events: list[NoteEvent], division: int) -> None:
    """Append the notes of one track chunk's data to `events`; a tempo event sets tempo[0]."""
    pos, tick, status = 0, 0, 0
    programs: dict[int, int] = {}
    sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
    while pos < len(data):
        delta, pos = _read_varlen(data, pos)
        tick += delta
        if data[pos] & 0x80:
            status, pos = data[pos], pos + 1
        if status == 0xFF:
            kind, (length, pos) = data[pos], _read_varlen(data, pos + 1)
            if kind == _META_TEMPO:
                tempo[0] = int.from_bytes(data[pos : pos + length], "big")
            pos += length
            continue
        if status in (0xF0, 0xF7):
            length, pos = _read_varlen(data, pos)
            pos += length
            continue
        kind, channel = status & 0xF0, status & 0x0F
        size = 1 if kind in (0xC0, 0xD0) else 2
        args, pos = data[pos : pos + size], pos + size
        if kind == 0xC0:
            programs[channel] = args[0]
        elif kind == 0x90 and args[1] > 0:
            sounding.setdefault((channel, args[0]), []).append((tick, args[1]))
        elif kind in (0x80, 0x90) and sounding.get((channel, args[0])):
            start, velocity = sounding[(channel, args[0])].pop(0)
            events.append(
                NoteEvent(
                    args[0],
                    start / division,
                    (tick - start) / division,
                    velocity,
                    channel,
                    programs.get(channel, 0),
                )
            )


def midi_to_performance(data: bytes) -> Performance:
    """Read a MIDI file's notes and first tempo back into a `Performance` (sorted by start)."""
    if data[:4] != b"MThd":
        raise ValueError("not a MIDI file (no MThd header)")
    division = struct.unpack(">H", data[12:14])[0]
    tempo = [500_000]  # the MIDI default: 120 quarter notes per minute
    events: list[NoteEvent] = []
    pos = 8 + struct.unpack(">I", data[4:8])[0]
    while pos + 8 <= len(data):
        kind, length = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        if kind == b"MTrk":
            _read_track(data[pos + 8 : pos + 8 + length], tempo, events, division)
        pos += 8 + length
    events.sort(key=lambda e: (e.start, e.channel, e.pitch))
    return Performance(tuple(events), 60_000_000 / tempo[0])


def write_midi(performance: Performance, path: Path) -> None:
    """Write `performance` as a Standard MIDI File."""
    path.write_bytes(performance_to_midi(performance))


def read_midi(path: Path) -> Performance:
    """Read a Standard MIDI File written by `write_midi` (or any format 0/1 file)."""
    return midi_to_performance(path.read_bytes())
