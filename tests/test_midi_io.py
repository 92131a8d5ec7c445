"""Note events <-> Standard MIDI Files."""

from __future__ import annotations

import pytest

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


def test_file_is_format_1_with_a_tempo_track_and_one_track_per_channel():
    data = performance_to_midi(Performance((NoteEvent(60, 0, 1), NoteEvent(48, 0, 1, 60, 1)), 120))
    assert data[:4] == b"MThd"
    assert int.from_bytes(data[8:10], "big") == 1
    assert int.from_bytes(data[10:12], "big") == 3


def test_not_a_midi_file_is_a_value_error():
    with pytest.raises(ValueError, match="not a MIDI file"):
        midi_to_performance(b"RIFF....")
