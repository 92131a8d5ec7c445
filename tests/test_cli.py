"""CLI: user errors are one line with exit code 2, and nothing written is lost."""

from __future__ import annotations

import pytest

from tunegen.cli import main


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_unknown_preset(capsys, tmp_path):
    assert main(["train", "--preset", "huge", "--out", str(tmp_path / "r")]) == 2
    assert "unknown preset 'huge'" in error_line(capsys)


def test_missing_corpus(capsys, tmp_path):
    assert main(["train", "--abc", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "nope: no such file or folder" in error_line(capsys)


def test_bad_option_values(capsys, tmp_path):
    assert main(["train", "--lr", "-1", "--out", str(tmp_path / "r")]) == 2
    assert "--lr must be > 0" in error_line(capsys)
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--mode", "sideways"])
    assert exit_info.value.code == 2


def test_existing_run_is_not_overwritten(capsys, tmp_path, small_abc_dir):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.ckpt").write_bytes(b"precious")
    assert main(["train", "--abc", str(small_abc_dir), "--out", str(run)]) == 2
    assert "already holds checkpoints" in error_line(capsys)
    assert (run / "last.ckpt").read_bytes() == b"precious"


def test_bad_checkpoints(capsys, tmp_path):
    assert main(["generate", str(tmp_path / "missing.ckpt")]) == 2
    assert "missing.ckpt: no such checkpoint file" in error_line(capsys)
    (tmp_path / "junk.ckpt").write_bytes(b"\x00garbage" * 100)
    assert main(["info", str(tmp_path / "junk.ckpt")]) == 2
    assert "junk.ckpt: not a readable checkpoint" in error_line(capsys)


def test_generate_refuses_to_overwrite_and_rejects_mixed_primers(capsys, tmp_path):
    out = tmp_path / "mine.abc"
    out.write_text("my tunes")
    assert main(["generate", str(tmp_path / "x.ckpt"), "--out", str(out)]) == 2
    assert "already exists; use --force" in error_line(capsys)
    assert out.read_text() == "my tunes"
    args = ["generate", str(tmp_path / "x.ckpt"), "--primer", "T:a", "--key", "D"]
    assert main([*args, "--out", str(tmp_path / "new.abc")]) == 2
    assert "use --primer or --title/--meter/--key" in error_line(capsys)


def test_max_symbols_is_the_other_spelling_of_max_chars(capsys, tmp_path):
    from tunegen.cli import build_parser

    for spelling in ("--max-chars", "--max-symbols"):
        assert build_parser().parse_args(["generate", spelling, "7"]).max_symbols == 7
    # the library names the setting max_symbols; the CLI names the flag the user knows
    assert main(["generate", "--max-symbols", "0", "--out", str(tmp_path / "x.abc")]) == 2
    assert error_line(capsys) == "tunegen: error: --max-chars must be in [1, 100000], got 0"
