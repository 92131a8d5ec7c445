"""generate --keep: only tunes that pass the checks are written; rejections are counted."""

from __future__ import annotations

import pytest

from tunegen.cli import main
from tunegen.errors import UsageError
from tunegen.evaluation.evaluate import NoveltyIndex
from tunegen.evaluation.selection import parse_checks, rejection
from tunegen.music.abc import parse_tunebook


def test_parse_checks():
    assert parse_checks("valid, novel") == ("valid", "novel")
    with pytest.raises(UsageError, match=r"^keep takes valid,metre,novel"):
        parse_checks("valid,pretty")


def test_rejection_reasons(oneills):
    index = NoveltyIndex(oneills.tunes[:50])
    copy = oneills.tunes[37].text  # one that abc2midi finds right (most of the first 50 are not)
    assert rejection(copy, ("metre", "novel"), index) == "copies a training tune"
    assert rejection("T:junk\nAB|", ("valid",), None) == "no header or no music"
    short_bar = "T:t\nM:4/4\nL:1/8\nK:D\nABcd efga|ABc|defg abag|\n"
    assert rejection(short_bar, ("metre",), None) == "a bar of the wrong length"
    bad_key = "T:t\nM:4/4\nL:1/8\nK:Cced\nABcd efga|\n"
    assert rejection(bad_key, ("metre",), None) == "an error abc2midi reports"
    fine = "T:t\nM:4/4\nL:1/8\nK:D\nA,4 g4|B,2 e'2 C2 f2|^G,2 c'2 _E2 b2|D,8|\n"  # odd leaps
    assert rejection(fine, ("valid", "metre", "novel"), index) is None


def test_generate_keep_writes_only_passing_tunes(trained, tmp_path, capsys):
    out = tmp_path / "kept.abc"
    args = ["generate", str(trained), "--num-tunes", "2", "--seed", "1", "--out", str(out)]
    assert main([*args, "--keep", "metre,novel", "--max-samples", "16", "--max-chars", "400"]) == 0
    printed = capsys.readouterr().out
    assert "of 16 samples passing metre,novel; rejected:" in printed or "kept 2 of" in printed
    tunes, report = parse_tunebook(out.read_text())
    assert report.read == len(tunes) <= 2
    assert main([*args, "--keep", "valid", "--max-samples", "1", "--force"]) == 2
    assert "--max-samples must be >= --num-tunes" in capsys.readouterr().err
