"""MIDI: parts, quantisation, both codecs' round trips on real chorales, bad files, the cache."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import midi_files

from tunegen.cli.train import flag
from tunegen.data.midi_corpus import (
    load_notes,
    read_midi_corpus,
    resolve_midi_files,
    score_parts,
)
from tunegen.data.midi_data import in_all_keys, primer_windows
from tunegen.errors import CorpusError, SettingError, UsageError
from tunegen.music.midi import (
    EventCodec,
    Part,
    normal_order,
    parse_pitch_name,
    pitch_name,
    quantise,
    read_midi_parts,
    select_parts,
)
from tunegen.music.midi_io import NoteEvent, Performance, performance_to_midi

EVENT_WORD = re.compile(r"^(w\d+|p\d+|d\d+)$")


def test_bundled_chorales_are_found():
    files = resolve_midi_files("bach-chorales")
    assert len(files) > 350 and all(f.suffix == ".mxl" for f in files)


def test_midi_and_musicxml_give_the_same_notes(chorale_midi, chorale_sources):
    """symusic on music21's MIDI export reads what music21 reads in the MusicXML itself."""
    for parts in ("melody", "all"):
        codec = EventCodec(parts=parts)
        for midi, source in zip(midi_files(chorale_midi), chorale_sources, strict=True):
            from_midi = codec.notes_from_parts(read_midi_parts(midi), str(midi))
            from_score = codec.notes_from_parts(score_parts(source), str(source))
            assert np.array_equal(from_midi, from_score)


@pytest.mark.parametrize("grid", [2, 4, 12])
@pytest.mark.parametrize("parts", ["melody", "all", "Bass"])
def test_events_round_trip_on_chorales(chorale_midi, grid, parts):
    codec = EventCodec("events", grid, parts)
    for path in midi_files(chorale_midi):
        notes = codec.notes_from_parts(read_midi_parts(path), str(path))
        text = codec.encode(notes)
        assert all(EVENT_WORD.match(word) for word in text.split())
        assert np.array_equal(codec.decode(text), notes)
        if parts == "melody":  # one voice: one note per onset
            assert len(np.unique(notes[:, 0])) == len(notes)


def test_seed003_words_are_the_write_up_symbols(chorale_midi):
    codec = EventCodec("seed003", 4, "all")
    for path in midi_files(chorale_midi):
        notes = codec.notes_from_parts(read_midi_parts(path), str(path))
        text = codec.encode(notes)
        assert len(text.split()) == len(np.unique(notes[:, 0]))  # one word per onset
        assert re.fullmatch(r"([A-G][#-]?-?\d|\d+(\.\d+)*)( \S+)*", text)
        # lossy (no durations, chords in one octave), but decoding then encoding is stable
        assert codec.encode(codec.decode(text)) == text
    assert EventCodec("seed003").encode(np.array([[0, 60, 4], [2, 70, 2]])) == "C4 B-4"


def test_normal_order_matches_music21():
    from music21 import chord

    rng = np.random.default_rng(0)
    for _ in range(40):
        pcs = {int(pc) for pc in rng.choice(12, size=rng.integers(2, 7), replace=False)}
        assert normal_order(pcs) == chord.Chord([60 + pc for pc in pcs]).normalOrder


def test_pitch_names_round_trip():
    assert [pitch_name(p) for p in (60, 61, 63, 70, 21)] == ["C4", "C#4", "E-4", "B-4", "A0"]
    # from octave 0 up; in octave -1 music21's names are ambiguous ("E-1": E-1 or E-flat 1)
    assert all(parse_pitch_name(pitch_name(p)) == p for p in range(12, 128))


def test_quantise_clips_dedupes_and_keeps_the_top_voice():
    raw = np.array([[0.0, 60, 1.0], [0.0, 64, 0.5], [0.0, 60, 2.0], [0.1, 67, 99.0]])
    assert quantise(raw, 4).tolist() == [[0, 67, 32], [0, 64, 2], [0, 60, 8]]
    assert quantise(raw, 4, top_voice=True).tolist() == [[0, 67, 32]]
    assert EventCodec(grid=4).encode(np.array([[40, 60, 1]])) == "w16 w16 w8 p60 d1"


def test_codec_settings_validate_and_round_trip():
    codec = EventCodec("seed003", 8, "all")
    assert EventCodec.from_dict(codec.to_dict()) == codec
    for bad, message in [
        (EventCodec("abc"), "^codec must be one of"),
        (EventCodec(grid=0), "^grid must be in"),
        (EventCodec("seed003", 3), "^codec seed003 needs an even grid "),
    ]:
        with pytest.raises(UsageError, match=message):
            bad.validate()
    # the library names the settings; the command line spells them as its flags
    with pytest.raises(SettingError) as err:
        EventCodec("seed003", 3).validate()
    assert err.value.spelled(flag).startswith("--codec seed003 needs an even --grid ")


def test_lenient_decoding_of_sampled_words():
    codec = EventCodec(grid=4)
    # a pitch with no duration lasts a beat; a stray duration is skipped
    assert codec.decode("d3 w0 p60 w2 p62 d2 p64").tolist() == [[0, 60, 4], [2, 64, 4], [2, 62, 2]]


def test_parts_selection_ignores_drums():
    drums = Part("Drums", True, np.array([[0.0, 36, 1.0]]))
    low, high = (Part(n, False, np.array([[0.0, p, 1.0]])) for n, p in (("Bass", 40), ("Sop", 70)))
    assert select_parts([drums, low, high], "melody", "x")[0][0, 1] == 70
    assert len(select_parts([drums, low, high], "all", "x")[0]) == 2
    assert select_parts([drums, low, high], "bass", "x")[0][0, 1] == 40
    with pytest.raises(CorpusError, match=r"x: no part named 'Alto' \(parts: Bass, Sop\)"):
        select_parts([drums, low, high], "Alto", "x")
    with pytest.raises(CorpusError, match="x: only drum parts"):
        select_parts([drums], "all", "x")


def write_bad_files(folder: Path, good: bytes) -> dict[str, str]:
    """One file per kind of bad input; returns file name -> expected reason."""
    drums = Performance((NoteEvent(36, 0.0, 1.0, channel=9),), 120.0)
    files = {
        "empty.mid": (b"", "empty file"),
        "text.mid": (b"MIDI? no, just text", "not a MIDI file"),
        "truncated.mid": (good[:60], "truncated or corrupt MIDI"),
        "drums.mid": (performance_to_midi(drums), "only drum parts"),
        "format2.mid": (good[:8] + b"\x00\x02" + good[10:], "format 2 MIDI"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items()}


def test_bad_files_are_skipped_with_a_reason(chorale_midi, tmp_path):
    good = midi_files(chorale_midi)[0]
    reasons = write_bad_files(tmp_path, good.read_bytes())
    (tmp_path / "good.mid").write_bytes(good.read_bytes())
    corpus = read_midi_corpus([str(tmp_path)], EventCodec(), cache=tmp_path / "cache")
    assert len(corpus.pieces) == 1 and corpus.report.dropped["unusable file"] == len(reasons)
    for name, reason in reasons.items():
        assert any(name in p and reason in p for p in corpus.report.problems), name
    assert "6 files, 1 pieces read, 1 kept" in corpus.report.summary()
    (tmp_path / "good.mid").unlink()
    with pytest.raises(CorpusError, match="no usable MIDI pieces"):
        read_midi_corpus([str(tmp_path)], EventCodec(), cache=tmp_path / "cache")
    with pytest.raises(CorpusError, match=r"folder has no \.mid or \.midi files"):
        read_midi_corpus([str(tmp_path / "cache")], EventCodec())


def test_cache_is_keyed_by_content_and_settings(chorale_midi, tmp_path):
    path, cache = midi_files(chorale_midi)[0], tmp_path / "cache"
    first, hit = load_notes(path, EventCodec(), cache)
    assert not hit
    copy = tmp_path / "renamed.mid"  # same bytes under another name: still a hit
    copy.write_bytes(path.read_bytes())
    again, hit = load_notes(copy, EventCodec(), cache)
    assert hit and np.array_equal(first, again)
    assert not load_notes(path, EventCodec(grid=8), cache)[1]
    assert load_notes(path, EventCodec("seed003"), cache)[1]  # the codec reuses the same notes
    (tmp_path / "bad.mid").write_bytes(b"junk")
    for _ in range(2):  # the reason is cached too
        with pytest.raises(CorpusError, match=r"bad\.mid: not a MIDI file"):
            load_notes(tmp_path / "bad.mid", EventCodec(), cache)


def test_transposition_gives_twelve_keys(chorale_midi):
    corpus = read_midi_corpus([str(chorale_midi)], EventCodec())
    moved = in_all_keys(corpus.pieces[:1], EventCodec())
    assert len(moved) == 12
    shifts = {int(m.notes[0, 1] - corpus.pieces[0].notes[0, 1]) for m in moved}
    assert shifts == set(range(-5, 7))


def test_primer_windows_end_before_an_onset():
    ids = np.array([0, 1, 2, 3, 1, 2, 3, 1, 2, 0, 1, 2, 3])
    starts = np.array([False, True, False, False])  # word 1 starts an onset
    windows = primer_windows(ids, 3, starts, 10, seed=0)
    assert windows and all(len(w) == 3 for w in windows)
    for window in windows:
        end = next(e for e in range(3, len(ids)) if ids[e - 3 : e].tolist() == window)
        assert ids[end] == 1
