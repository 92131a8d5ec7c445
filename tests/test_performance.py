"""ABC -> note events: repeats, endings, ties, chord symbols and tempo, on golden and real tunes."""

from __future__ import annotations

import pytest
from conftest import BROKEN_ABC, GOLDEN_ABC, GOLDEN_MELODY

from tunegen.errors import RenderError
from tunegen.music.midi_io import midi_to_performance, performance_to_midi
from tunegen.render.performance import (
    BASS_VELOCITY,
    CHORD_CHANNEL,
    MELODY_CHANNEL,
    PlayOptions,
    abc_to_performance,
)


def melody(performance):
    return [(e.pitch, e.start, e.duration) for e in performance.events if e.channel == 0]


def struck_at(performance, time):
    return {e.pitch for e in performance.events if e.channel == CHORD_CHANNEL and e.start == time}


def test_golden_tune_plays_repeat_endings_and_tie_and_survives_midi():
    performance = abc_to_performance(GOLDEN_ABC)
    assert melody(performance) == GOLDEN_MELODY
    back = midi_to_performance(performance_to_midi(performance))
    assert melody(back) == GOLDEN_MELODY
    assert back.qpm == pytest.approx(120.0)


def test_chord_symbols_are_struck_on_the_beat_with_a_bass_on_changes():
    performance = abc_to_performance(GOLDEN_ABC)
    assert struck_at(performance, 0.0) == {43, 55, 59, 62}  # "G": G2 bass, G3 B3 D4
    assert struck_at(performance, 1.0) == {55, 59, 62}  # the next beat: no bass
    assert struck_at(performance, 4.0) == {38, 50, 54, 57, 60}  # "D7" on the bar's first beat
    assert struck_at(performance, 6.0) == {42, 54, 57, 62}  # "D/F#": F# in the bass
    assert struck_at(performance, 12.0) == {43, 55, 59, 62}  # "G" in the second ending
    bass = [e for e in performance.events if e.velocity == BASS_VELOCITY]
    assert [e.start for e in bass] == [0.0, 4.0, 6.0, 8.0, 12.0]
    chord_end = max(e.end for e in performance.events if e.channel == CHORD_CHANNEL)
    assert chord_end == 16.0


def test_options_turn_chords_off_and_choose_the_melody_program():
    performance = abc_to_performance(GOLDEN_ABC, PlayOptions(program=73, chords=False))
    assert {e.channel for e in performance.events} == {MELODY_CHANNEL}
    assert {e.program for e in performance.events} == {73}


@pytest.mark.parametrize(
    ("fields", "bar", "qpm"),
    [
        ("M:4/4\nQ:1/4=96", "DEFG ABcd", 96.0),
        ("M:6/8\nQ:3/8=100", "DEF GAB", 150.0),
        ("M:6/8", "DEF GAB", 150.0),  # jig: dotted quarter = 100
        ("M:C|", "DEFG ABcd", 160.0),  # reel: half = 80
        ("M:3/4", "DE FG AB", 120.0),
    ],
)
def test_tempo_from_q_field_or_a_default_for_the_metre(fields, bar, qpm):
    text = f"X:1\nT:t\n{fields}\nL:1/8\nK:D\n{bar}|{bar}|\n"
    assert abc_to_performance(text).qpm == pytest.approx(qpm)


@pytest.mark.parametrize(
    ("body", "bars"),
    [
        ("C2 C2|D2 D2:|E2 E2|", "CDCDE"),  # an end repeat with no start goes back to the start
        ("C2 C2|D2 D2|:E2 E2:|F2 F2|G2 G2:|", "CDEEFGFG"),  # ...or to the previous end repeat
        ("|:C2 C2|C2 C2::D2 D2|D2 D2:|", "CCCCDDDD"),
        ("|:C2 C2|[1 D2 D2|E2 E2:|[2 F2 F2|]", "CDECF"),  # a two-bar first ending
        ("|:C2 C2|A2 A2|[1 D2 D2:|[2 E2 E2|G2 G2:|", "CADCAEGG"),
        ("C2 C2|:D2 D2|E2 E2|", "CDE"),  # a start repeat with no end is played once
        ("C2 C2 :|", "C"),  # too few bar lines for music21 to make bars: played once
    ],
)
def test_repeats_are_written_out_as_abc_says(body, bars):
    text = f"X:1\nT:t\nM:4/4\nL:1/4\nK:C\n{body}\n"
    played = melody(abc_to_performance(text))
    assert "".join("C D EF G A B"[p % 12] for p, start, _ in played if start % 4 == 0) == bars


def test_accidentals_hold_to_the_end_of_the_bar():
    text = "X:1\nT:t\nM:4/4\nL:1/4\nK:D\n=c c c2|c4|\n"
    assert [p for p, _, _ in melody(abc_to_performance(text))] == [72, 72, 72, 73]


def test_real_tune_plays_both_sections_twice_with_its_chords(cuckoos_nest):
    performance = abc_to_performance(cuckoos_nest.abc(1))
    played = melody(performance)
    # The pickup and the first three bars, as written in the ABC (K:D, L:1/4, "=c" holds a bar).
    opening = [
        (69, 0.0, 1.0),
        (69, 1.0, 0.5), (74, 1.5, 0.5), (74, 2.0, 0.5), (73, 2.5, 0.5),
        (74, 3.0, 0.5), (76, 3.5, 0.5), (78, 4.0, 0.5), (74, 4.5, 0.5),
        (76, 5.0, 0.5), (74, 5.5, 0.5), (73, 6.0, 0.5), (71, 6.5, 0.5),
        (69, 7.0, 1.0), (69, 8.0, 0.5), (71, 8.5, 0.5),
        (72, 9.0, 0.5), (71, 9.5, 0.5), (69, 10.0, 0.5), (71, 10.5, 0.5),
        (72, 11.0, 0.5), (76, 11.5, 0.5), (74, 12.0, 0.5), (72, 12.5, 0.5),
    ]  # fmt: skip
    assert played[: len(opening)] == opening
    section_a = 1 + 7 * 4 + 3  # ":|" goes back to the start: the pickup, 7 bars, a short bar
    again = [(p, s + section_a, d) for p, s, d in opening]
    assert [n for n in played if section_a <= n[1] < section_a + 12.5 + 1e-6] == again
    assert struck_at(performance, 1.0) == {38, 50, 54, 57}  # "D" on bar 1
    assert struck_at(performance, 5.0) == {40, 52, 55, 59}  # "Em" on bar 2
    assert performance.qpm == pytest.approx(120.0)


@pytest.mark.parametrize("name", ["unclosed chord", "garbage"])
def test_broken_abc_is_a_render_error(name):
    with pytest.raises(RenderError):
        abc_to_performance(BROKEN_ABC[name])
