"""Tunes past the limits: refused with a reason before any work, in render, evaluate and checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GOLDEN_ABC, one_tune

from tunegen.cli import main
from tunegen.errors import RenderError
from tunegen.evaluation.evaluate import check_validity, evaluate, load_generated
from tunegen.music.abc import read_corpus
from tunegen.music.bounds import LIMITS, check_meter, check_performance, check_tune
from tunegen.music.midi_io import NoteEvent, Performance

HEAD = "X:1\nT:{title}\nM:4/4\nL:1/8\nK:C\n"
RUNAWAY = {
    "huge metre": ("X:1\nT:Huge Metre\nM:1000000/1\nL:1/8\nK:C\nCDEF|GABc|\n", "metre"),
    "long note": (HEAD + "A200000|\n", "a note lasts"),
    "slow tempo": ("X:1\nT:Slow\nM:4/4\nL:1/8\nQ:1/4=0.001\nK:C\nCDEF GABc|\n", "tempo"),
    "huge note": (HEAD + "C99999999|D|E|\n", "a note lasts"),
    "3000 bars": (HEAD + "CDEF GABc|" * 3000 + "\n", "notes; the limit"),
    "zero tuplet": (HEAD + "(0CDE F2G2|\n", "rhythm not understood"),
    "inline metre": (HEAD + "CDEF [M:999/1] GABc|\n", "metre"),
    "slow Q over 50 bars": (
        "X:1\nT:Q1\nM:4/4\nL:1/8\nQ:1/4=1\nK:C\n" + "CDEF GABc|" * 50 + "\n",
        "tempo",
    ),
}


@pytest.mark.parametrize("name", RUNAWAY)
def test_a_tune_past_a_limit_is_refused_naming_it(name):
    text, reason = RUNAWAY[name]
    with pytest.raises(RenderError, match=reason):
        check_tune(one_tune(text.format(title=name)))


def test_ordinary_tunes_pass(ryans_tunes):
    for tune in [one_tune(GOLDEN_ABC), *ryans_tunes]:
        check_tune(tune)


@pytest.mark.parametrize("meter", ["C", "C|", "6/8", "2+3+2/8", "(2+2+3)/8", "32/64", "1/1"])
def test_playable_metres(meter):
    check_meter(meter)


@pytest.mark.parametrize("meter", ["banana", "0/0", "999/1", "4/3", "33/8", "1000000/1", "4/0"])
def test_metres_that_mean_nothing_or_cost_minutes(meter):
    with pytest.raises(ValueError, match="metre"):
        check_meter(meter)
    with pytest.raises(ValueError, match="metre"):
        check_meter("none", allow_free=False)


def test_a_performance_over_the_time_or_wav_limit_is_refused():
    long = Performance((NoteEvent(60, 0.0, 4000.0, 90, 0, 0),), 120.0)
    with pytest.raises(RenderError, match="plays for 2,000 s"):
        check_performance(long)
    check_performance(Performance((NoteEvent(60, 0.0, 4.0, 90, 0, 0),), 120.0))
    assert LIMITS.max_seconds * 44_100 * 2 < LIMITS.max_wav_bytes


def runaway_book(path: Path) -> Path:
    texts = [text.format(title=name).replace("X:1", f"X:{n}") for n, (name, (text, _)) in
             enumerate(RUNAWAY.items(), 2)]  # fmt: skip
    path.write_text(GOLDEN_ABC + "\n" + "\n".join(texts), encoding="utf-8")
    return path


def test_render_costs_each_runaway_tune_one_line_never_the_book(tmp_path, capsys):
    book = runaway_book(tmp_path / "book.abc")
    out = tmp_path / "out"
    assert main(["render", str(book), "--out", str(out), "--synth", "builtin"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0].startswith(f"rendered {1 + len(RUNAWAY)} tunes")
        and "midi 1, wav 1, svg 1" in lines[0]
    )
    for name, (_, reason) in RUNAWAY.items():
        failed = [line for line in lines if reason in line and "failed" in line]
        assert failed, name
    assert sorted(p.suffix for p in out.iterdir() if p.name.startswith("001")) == [
        ".abc",
        ".mid",
        ".svg",
        ".wav",
    ]
    assert not [p for p in out.iterdir() if p.suffix in (".mid", ".wav") and p.name[:3] != "001"]


def test_evaluate_goes_on_past_tunes_it_cannot_read(tmp_path):
    book = runaway_book(tmp_path / "book.abc")
    generated = load_generated(str(book))
    assert any("tune 7 (zero tuplet): unexpected ZeroDivisionError" in u
               for u in generated.unreadable)  # fmt: skip
    corpus = read_corpus([str(book)])
    report = evaluate(generated, corpus, validity=True, reference_sample=5, jobs=1)
    failures = {f["title"]: f["error"] for f in report["validity"]["failures"]}
    assert "limits: unknown or unplayable metre '1000000/1'" in failures["Huge Metre"]
    assert "limits:" in failures["3000 bars"]
    assert report["validity"]["total"] == 1 + len(RUNAWAY)
    assert report["novelty"]["tunes"]["copy_rate"] is not None


def test_the_keep_checks_refuse_runaway_tunes_with_a_reason():
    valid, why = check_validity(one_tune(RUNAWAY["huge metre"][0]))
    assert not valid and why.startswith("limits: unknown or unplayable metre")
    assert check_validity(one_tune(GOLDEN_ABC)) == (True, None)


def test_a_drums_only_midi_file_is_one_unreadable_line(tmp_path):
    import symusic

    score = symusic.Score(480)
    drums = symusic.Track("Drums", program=0, is_drum=True)
    for i in range(8):
        drums.notes.append(symusic.Note(i * 240, 120, 36, 100))
    score.tracks.append(drums)
    score.dump_midi(str(tmp_path / "drums.mid"))
    score.tracks[0].is_drum = False
    score.tracks[0].notes.append(symusic.Note(2000, 480, 60, 90))
    score.dump_midi(str(tmp_path / "melody.mid"))
    generated = load_generated(str(tmp_path))
    assert len(generated.facts) == 1
    assert len(generated.unreadable) == 1 and "drums.mid" in generated.unreadable[0]
