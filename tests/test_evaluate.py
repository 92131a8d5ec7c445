"""Validity checks, the evaluation report and the `tunegen evaluate` command, ABC and MIDI."""

import json
import warnings
from pathlib import Path

import pytest

from tunegen.cli import main
from tunegen.evaluation.evaluate import check_validity, evaluate, load_generated
from tunegen.music.abc import Tune, parse_tunebook, read_corpus, tunebook_text
from tunegen.music.metre import metre_share

NEW = "X:1\nT:New\nM:4/4\nL:1/8\nK:Am\nE2AB c2BA|G2EG D2ED|C2EG c2Bc|d2fe d2cB|A4 e4|]\n"
BROKEN = "X:1\nT:Unclosed chord\nM:4/4\nL:1/8\nK:D\nA2 [B c d2 e2|\n"
CRASHES_VEROVIO = "X:1\nT:End repeat\nM:6/8\nL:1/8\nK:G\nABc def :]\n"  # verovio 6.4.1 segfaults
NO_KEY = "X:1\nT:No key\nM:4/4\nABcd efga|\n"


def one(text: str) -> Tune:
    return parse_tunebook(text)[0][0]


@pytest.fixture(scope="module")
def corpus_tunes() -> list[Tune]:
    return read_corpus(["oneills1850"]).tunes[:60]


@pytest.fixture
def files(tmp_path: Path, corpus_tunes: list[Tune]) -> tuple[Path, Path]:
    """A corpus file of 60 tunes and generated tunes: 4 copies, 1 new, 2 broken, 1 without K:."""
    corpus = tmp_path / "corpus.abc"
    corpus.write_text(tunebook_text(corpus_tunes))
    generated = tmp_path / "generated.abc"
    tunes = [*corpus_tunes[10:14], one(NEW), one(BROKEN), one(CRASHES_VEROVIO)]
    generated.write_text(tunebook_text(tunes) + "\n" + NO_KEY)
    return generated, corpus


def test_a_good_tune_is_valid() -> None:
    assert check_validity(one(NEW)) == (True, None)


def test_a_broken_tune_is_invalid_with_the_first_error() -> None:
    valid, reason = check_validity(one(BROKEN))
    assert not valid
    assert reason is not None and reason.startswith("music21:") and "chord" in reason


def test_a_crash_in_verovio_costs_one_tune_not_the_run() -> None:
    valid, reason = check_validity(one(CRASHES_VEROVIO))
    assert valid or reason == "verovio: crashed loading the tune"
    assert check_validity(one(NEW)) == (True, None)


def test_report_files_hold_the_numbers(files: tuple[Path, Path], capsys) -> None:
    generated, corpus = files
    out = generated.parent / "report"
    assert (
        main(["evaluate", "--tunes", str(generated), "--against", str(corpus), "--out", str(out)])
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["tunes"]["count"] == 7 and report["tunes"]["unreadable"] == 1
    validity = report["validity"]
    assert validity["total"] == 8
    titles = {f["title"] for f in validity["failures"]}
    assert titles in ({"Unclosed chord", None}, {"Unclosed chord", None, "End repeat"})
    assert validity["valid"] == round((8 - len(validity["failures"])) / 8, 4)
    copies = [row["copy"] for row in report["novelty"]["per_tune"]]
    assert copies[:5] == [True, True, True, True, False]
    shares = [metre_share(t).all_right for t in read_corpus([str(corpus)]).tunes]
    assert report["metre"]["corpus"]["every_bar_right"] == round(sum(shares) / len(shares), 4)
    assert report["metre"]["tunes"]["tunes_checked"] == 7
    assert 0 < report["style"]["pitch_classes"]["overlap"] <= 1
    assert len(report["style"]["intervals"]["tunes"]) == 25
    markdown = (out / "report.md").read_text()
    assert "every bar right" in markdown and "Unclosed chord" in markdown
    for name in ("pitch_classes", "intervals", "pitch_range", "note_density", "metre_share"):
        assert (out / f"{name}.png").stat().st_size > 1000
    assert "every bar right" in capsys.readouterr().out


def test_default_folder_and_no_overwrite_without_force(files: tuple[Path, Path], capsys) -> None:
    generated, corpus = files
    args = ["evaluate", "--tunes", str(generated), "--against", str(corpus), "--no-validity"]
    assert main(args) == 0
    assert (generated.parent / "generated-eval" / "report.json").exists()
    assert main(args) == 2
    assert "already exists; use --force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "needs a CHECKPOINT or --tunes"),
        (["--tunes", "x.abc"], "needs --against"),
        (["--tunes", "missing.abc", "--against", "oneills1850"], "missing.abc: no such file"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], message: str, capsys) -> None:
    assert main(["evaluate", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_midi_folder_gets_novelty_and_style_but_no_metre(
    tmp_path: Path, corpus_tunes: list[Tune]
) -> None:
    from music21 import converter

    folder = tmp_path / "midi"
    folder.mkdir()
    # music21 cannot write some tunes as MIDI, and joins or splits notes of others; not these.
    for number, tune in enumerate([corpus_tunes[50], corpus_tunes[55], one(NEW)]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converter.parse(tune.abc(1), format="abc").write("midi", fp=folder / f"{number}.mid")
    generated = load_generated(str(folder))
    assert generated.kind == "midi" and len(generated.facts) == 3
    corpus = read_corpus(["oneills1850"])
    corpus.tunes = corpus_tunes
    report = evaluate(generated, corpus, reference_sample=20)
    assert report["metre"] is None
    assert [row["copy"] for row in report["novelty"]["per_tune"]] == [True, True, False]
    assert report["validity"]["valid"] == 1.0
    assert "key" not in report["style"]
