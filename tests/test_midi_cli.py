"""`tunegen train --midi` and `generate` on a MIDI model: files, lengths, primers, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import midi_files

from tunegen.cli import main
from tunegen.models.checkpoint import load_checkpoint
from tunegen.music.midi import EventCodec
from tunegen.sampling.midi_generate import PieceLength, sample_pieces, trim
from tunegen.sampling.options import SamplingOptions

TINY_MIDI = ["--embedding-size", "8", "--hidden-size", "32", "--batch-size", "2"]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1] if err else ""


@pytest.fixture(scope="session")
def midi_run(chorale_midi, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("midi-runs") / "chorales"
    args = ["train", "--midi", str(chorale_midi), "--out", str(run), *TINY_MIDI]
    assert main([*args, "--seq-len", "16", "--epochs", "2", "--seed", "1"]) == 0
    return run


def onsets(path: Path) -> list[float]:
    from music21 import converter

    # music21 splits a note that crosses a bar line into tied notes: skip the continuations
    notes = converter.parse(path).flatten().notes
    return sorted({float(n.offset) for n in notes if n.tie is None or n.tie.type == "start"})


@pytest.mark.slow
def test_train_then_generate_events_and_beats(midi_run, tmp_path, capsys):
    meta = load_checkpoint(midi_run / "best.ckpt").meta
    assert meta["corpus"]["kind"] == "midi" and meta["corpus"]["codec"]["grid"] == 4
    assert meta["training"]["tokenizer"] == "words" and meta["corpus"]["primers"]
    assert (midi_run / "log.csv").exists() and (midi_run / "curves.png").exists()
    out = tmp_path / "pieces"
    args = ["generate", str(midi_run), "--out", str(out), "--num-tunes", "2", "--seed", "3"]
    assert main([*args, "--length", "12", "--synth", "builtin"]) == 0
    assert "wrote 2 pieces of 12 events" in capsys.readouterr().out
    for stem in ("piece-001", "piece-002"):
        assert {p.suffix for p in out.glob(f"{stem}.*")} == {".mid", ".wav", ".png"}
        assert len(onsets(out / f"{stem}.mid")) == 12  # music21 reads back 12 onsets
    assert main([*args, "--length", "12"]) == 2
    assert "piece-001.mid: already exists; use --force" in error_line(capsys)
    assert main([*args, "--length", "8b", "--force", "--synth", "builtin"]) == 0
    from music21 import converter

    score = converter.parse(out / "piece-001.mid")
    assert 0 < score.highestTime <= 8 and onsets(out / "piece-001.mid")[0] == 0


@pytest.mark.slow
def test_generate_from_a_midi_primer_and_info(midi_run, chorale_midi, tmp_path, capsys):
    primer = midi_files(chorale_midi)[0]
    args = ["generate", str(midi_run), "--out", str(tmp_path), "--num-tunes", "1", "--seed", "3"]
    assert main([*args, "--primer-midi", str(primer), "--length", "5", "--synth", "builtin"]) == 0
    assert len(onsets(tmp_path / "piece-001.mid")) == 5
    assert main(["info", str(midi_run)]) == 0
    assert "w0" in capsys.readouterr().out
    assert main([*args, "--primer", "T:x"]) == 2
    assert "use --primer-midi and --length with a MIDI model" in error_line(capsys)
    assert main(["evaluate", str(midi_run)]) == 2
    assert "a MIDI model; evaluate scores ABC models" in error_line(capsys)


@pytest.mark.slow
def test_sampled_pieces_have_the_requested_length(midi_run):
    checkpoint = load_checkpoint(midi_run)
    codec = EventCodec.from_dict(checkpoint.meta["corpus"]["codec"])
    primers = np.zeros((3, 0), dtype=np.int64)
    for text, check in [("20", lambda n: len(np.unique(n[:, 0])) == 20), ("6b", None)]:
        length = PieceLength.parse(text)
        pieces, short = sample_pieces(
            checkpoint.model, checkpoint.vocab, codec, primers, length, SamplingOptions(seed=0)
        )
        assert short == 0 and len(pieces) == 3
        for notes in pieces:
            assert check(notes) if check else (notes[:, 0] + notes[:, 2]).max() <= 6 * 4


def test_length_parsing_and_trim():
    assert PieceLength.parse("32b") == PieceLength(32, "beats")
    assert PieceLength.parse("200") == PieceLength(200, "events")
    for bad in ("0", "b", "-3", "4q", "99999999", "10001b", "\u0663"):
        with pytest.raises(Exception, match=r"^length must be"):
            PieceLength.parse(bad)
    notes = np.array([[4, 60, 8], [8, 62, 2], [12, 64, 4]])
    assert trim(notes, PieceLength(2, "beats"), 4).tolist() == [[0, 60, 8], [4, 62, 2]]


def test_bad_midi_input_is_one_line_and_exit_2(chorale_midi, tmp_path, capsys):
    (tmp_path / "junk.mid").write_bytes(b"not midi")
    out = ["--out", str(tmp_path / "run")]
    assert main(["train", "--midi", str(tmp_path), *out]) == 2
    line = error_line(capsys)
    assert "no usable MIDI pieces" in line and "junk.mid: not a MIDI file" in line
    assert main(["train", "--midi", str(tmp_path / "nothing"), *out]) == 2
    assert "nothing: no such file or folder" in error_line(capsys)
    assert main(["train", "--abc", "oneills1850", "--grid", "8", *out]) == 2
    assert "--grid is for MIDI corpora (--midi)" in error_line(capsys)
    midi = ["train", "--midi", str(chorale_midi), *out]
    assert main([*midi, "--codec", "seed003", "--grid", "3"]) == 2
    assert "even --grid" in error_line(capsys)
    assert main([*midi, "--tokenizer", "chars"]) == 2
    assert "MIDI is learnt as words" in error_line(capsys)
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    for source in midi_files(chorale_midi):
        (tiny / source.name).write_bytes(source.read_bytes())
    assert main(["train", "--midi", str(tiny), *out, "--batch-size", "4096"]) == 2
    assert "too few for 4096 streams" in error_line(capsys)
    assert not (tmp_path / "run").exists()  # a run that cannot start leaves nothing behind


def test_midi_generate_bounds_and_division_0(midi_run, tmp_path, capsys):
    division0 = tmp_path / "zero.mid"
    division0.write_bytes(
        b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00"
        b"MTrk\x00\x00\x00\x0c\x00\x90\x3c\x40\x60\x80\x3c\x00\x00\xff\x2f\x00"
    )
    args = ["generate", str(midi_run), "--out", str(tmp_path / "out")]
    for extra, expected in [
        (["--length", "99999999"], "--length must be"),
        (["--primer-midi", str(division0)], "zero.mid: MIDI division 0"),
        (["--num-tunes", "0"], "--num-tunes"),
        (["--temperature", "nan"], "--temperature"),
    ]:
        assert main([*args, *extra]) == 2
        assert expected in error_line(capsys)
    assert not (tmp_path / "out").exists()
