"""Note events <-> Standard MIDI Files."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tunegen.errors import CorpusError
from tunegen.music.melody import midi_melody
from tunegen.music.midi_io import (
    NoteEvent,
    Performance,
    midi_to_performance,
    performance_to_midi,
    read_midi,
    write_midi,
)


def test_round_trip_keeps_every_event_and_the_tempo(tmp_path):
    events = (
        NoteEvent(67, 0.0, 0.5, 90, 0, 73),
        NoteEvent(43, 0.0, 1.0, 60, 1, 24),
        NoteEvent(67, 0.5, 1 / 3, 90, 0, 73),  # a triplet: 160 ticks
        NoteEvent(67, 0.5 + 1 / 3, 2.5, 100, 0, 73),  # the same pitch again, straight after
    )
    performance = Performance(events, qpm=150.0)
    write_midi(performance, tmp_path / "t.mid")
    back = read_midi(tmp_path / "t.mid")
    assert back.qpm == pytest.approx(150.0)
    expected = sorted(events, key=lambda e: (e.start, e.channel, e.pitch))
    assert [e.pitch for e in back.events] == [e.pitch for e in expected]
    assert [e.start for e in back.events] == pytest.approx([e.start for e in expected], abs=1e-3)
    assert [e.duration for e in back.events] == pytest.approx(
        [e.duration for e in expected], abs=1e-3
    )
    assert [(e.velocity, e.channel, e.program) for e in back.events] == [
        (e.velocity, e.channel, e.program) for e in expected
    ]


def test_file_is_format_1_with_one_track_per_channel_and_its_program():
    events = (
        NoteEvent(60, 0, 1, program=73),
        NoteEvent(48, 0, 1, 60, 1, 24),
        NoteEvent(36, 0, 1, channel=9),
    )
    data = performance_to_midi(Performance(events, 120))
    assert data[:4] == b"MThd"
    assert int.from_bytes(data[8:10], "big") == 1
    assert int.from_bytes(data[10:12], "big") == 3
    # symusic writes channel = place in the file, drums on 9: the reader numbers them back
    assert bytes([0xC0, 73]) in data and bytes([0xC1, 24]) in data and bytes([0xC9, 0]) in data
    back = midi_to_performance(data)
    assert [(e.pitch, e.channel, e.program) for e in back.events] == [
        (60, 0, 73),
        (48, 1, 24),
        (36, 9, 0),
    ]


def test_not_a_midi_file_is_a_value_error():
    with pytest.raises(ValueError, match="not a MIDI file"):
        midi_to_performance(b"RIFF....")


def test_midi_melody_is_the_top_line_of_the_pitched_parts_as_written(tmp_path):
    events = (
        NoteEvent(60, 0.0, 6.0),  # across a 4/4 bar line: still one note
        NoteEvent(64, 0.0, 1.0, channel=1),
        NoteEvent(90, 0.0, 1.0, channel=9),  # a drum: no melody
        NoteEvent(62, 6.0, 1 / 3),
    )
    write_midi(Performance(events, 120.0), tmp_path / "m.mid")
    assert midi_melody(tmp_path / "m.mid") == [(64, Fraction(1, 4)), (62, Fraction(1, 12))]


def test_midi_melody_of_a_bad_file_is_a_corpus_error_naming_it(tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    with pytest.raises(CorpusError, match=r"bad\.mid: truncated MIDI header"):
        midi_melody(tmp_path / "bad.mid")
