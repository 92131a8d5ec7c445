"""What `train` learns from: key augmentation (--transpose) of the training tunes only."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import train_args

from tunegen.cli import main
from tunegen.music.abc import parse_tunebook, tunebook_text
from tunegen.training.config import TrainConfig
from tunegen.training.corpus import prepare_corpus


def _keys(texts) -> list[str]:
    return [next(line[2:] for line in text.split("\n") if line.startswith("K:")) for text in texts]


def test_transpose_adds_training_tunes_in_other_keys_and_leaves_validation_alone(
    small_abc_dir, tmp_path
):
    config = TrainConfig(corpus=(str(small_abc_dir),), val_fraction=0.1)
    plain, _, plain_info = prepare_corpus(config, tmp_path / "plain")
    originals = list(plain["train"])
    augmented = replace(config, transpose=("D", "G", "A", "E", "Bm"))
    texts, _, info = prepare_corpus(augmented, tmp_path / "keys")
    train = list(texts["train"])
    assert list(texts["val"]) == list(plain["val"])  # held-out tunes untouched
    assert train[: len(originals)] == originals  # originals first, then their copies
    copies = train[len(originals) :]
    # in rounds: every tune's first copy, then every tune's second, ... never one tune twice in
    # a row, and each round keeps the originals' order
    per_tune = [_augmenter_copies(augmented, text) for text in originals]
    rounds = [
        [tune_copies[k].text for tune_copies in per_tune if len(tune_copies) > k]
        for k in range(max(map(len, per_tune)))
    ]
    assert copies == [text for one_round in rounds for text in one_round]
    assert len(rounds[0]) > 1
    majors = sum(1 for key in _keys(originals) if key in ("D", "G", "A", "E", "C", "F"))
    assert len(copies) >= 3 * majors  # a major tune comes back in (at least) 3 other keys
    assert set(_keys(copies)) >= {"D", "G", "A", "E"}
    report = info["report"]
    assert f"{len(copies)} transposed copies" in report and "tunes transposed" in report
    assert report.startswith(plain_info["report"])  # the read counts are the same as before
    val_tunes = {text for text in plain["val"]}
    transposed_val = {
        copy.text
        for text in val_tunes
        for copy in _augmenter_copies(augmented, text)  # a held-out tune's copies never train
    }
    assert not transposed_val & set(copies)


def _augmenter_copies(config: TrainConfig, text: str):
    from tunegen.music.transpose import KeyAugmenter

    tune = parse_tunebook("X:1\n" + text)[0][0]
    return KeyAugmenter(config.target_keys).copies(tune)


def test_transpose_all_counts_tunes_kept_in_their_own_key(tmp_path):
    book = tmp_path / "book.abc"
    book.write_text(
        "X:1\nT:a\nK:G\nGABc|\n\nX:2\nT:b\nK:none\nGABf|\n\nX:3\nT:c\nK:Bn\nGABe|\n\n"
        "X:4\nT:d\nK:Ador\nGAce|\n\nX:5\nT:e\nK:D\nDEFA|\n",
        encoding="utf-8",
    )
    config = TrainConfig(
        corpus=(str(book),), val_fraction=0.4, transpose_all=True, keep_unclean=True
    )
    texts, _, info = prepare_corpus(config, tmp_path / "run")
    val = list(texts["val"])
    assert _keys(val) == ["Ador"]  # by its hash; held out, so in one key only
    originals = list(texts["train"])[: 5 - len(val)]
    keys = _keys(originals)
    movable = sum(key not in ("none", "Bn") for key in keys)
    assert len(list(texts["train"])) == len(originals) + 11 * movable
    expected = [f"{11 * movable} transposed copies", f"{movable} tunes transposed"]
    assert movable == 2  # G and D; none and Bn stay as they are, counted
    expected += [
        "1 kept in own key (key 'none' has no tonic)",
        "1 kept in own key (unknown mode 'n')",
    ]
    assert all(part in info["report"] for part in expected), info["report"]


@pytest.mark.parametrize(
    "option, message",
    [
        (["--transpose", "D,H"], "--transpose: cannot read key 'H'"),
        (["--transpose", "D,,G"], "--transpose: cannot read key ''"),
        (["--transpose", "D", "--transpose-all"], "choose one"),
    ],
)
def test_bad_transpose_values_are_one_line_errors(capsys, tmp_path, option, message):
    assert main(["train", "--out", str(tmp_path / "r"), *option]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_transpose_keys_are_for_abc(capsys, tmp_path):
    assert main(["train", "--midi", "bach-chorales", "--transpose", "D"]) == 2
    assert "--transpose KEYS is for ABC corpora" in capsys.readouterr().err


def test_train_prints_the_read_report_with_the_transposition_counts(oneills, tmp_path, capsys):
    book = tmp_path / "eight.abc"
    book.write_text(tunebook_text(oneills.tunes[:8]), encoding="utf-8")
    args = train_args(book, tmp_path / "run", "--epochs", "1", "--transpose", "G,D")
    assert main([*args, "--seq-len", "16"]) == 0
    out = capsys.readouterr().out
    assert "8 tunes read," in out and "unclean: " in out and "transposed copies" in out
