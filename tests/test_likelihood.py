"""Held-out likelihood of a checkpoint agrees with the validation numbers of training."""

from __future__ import annotations

import math

import pytest

from tunegen.evaluation.likelihood import char_losses, corpus_likelihood
from tunegen.models.checkpoint import load_checkpoint
from tunegen.music.abc import Tune, read_corpus, split_train_val


def test_matches_training_validation(trained):
    checkpoint = load_checkpoint(trained / "best.ckpt")
    corpus = read_corpus(checkpoint.meta["training"]["corpus"])
    _, val = split_train_val(corpus.tunes, checkpoint.meta["training"]["val_fraction"])
    seq_len = checkpoint.meta["training"]["seq_len"]
    result = corpus_likelihood(checkpoint, [t.text for t in val], streams=8, seq_len=seq_len)
    assert result.bits_per_char == pytest.approx(checkpoint.meta["best_val_bpc"], rel=0.05)
    assert result.perplexity == pytest.approx(math.exp(result.loss))
    assert result.tunes == len(val) and result.skipped == 0


def test_unknown_characters_skip_tunes(trained):
    checkpoint = load_checkpoint(trained / "best.ckpt")
    odd = Tune((("T", "€uro"), ("K", "D")), ("ABcd|",))
    plain = Tune((("T", "Plain"), ("K", "D")), ("ABcd|dcBA|",))
    result = corpus_likelihood(checkpoint, [odd.text, plain.text])
    assert result.tunes == 1 and result.skipped == 1 and result.chars > 0


def test_evaluate_command_scores_a_checkpoint(trained, small_abc_dir, capsys):
    from tunegen.cli import main

    assert main(["evaluate", str(trained / "best.ckpt")]) == 0
    out = capsys.readouterr().out
    assert "held-out tunes" in out and "bits/char" in out and "perplexity" in out
    assert main(["evaluate", str(trained), "--corpus", str(small_abc_dir / "a.abc")]) == 0
    assert "30 tunes" in capsys.readouterr().out


def test_a_model_trained_tune_by_tune_is_scored_tune_by_tune(small_abc_dir, tmp_path):
    """For --mode tunes, held-out likelihood scores each tune from the initial state, as its
    training validated it (the same number), unless asked to carry the state across tunes."""
    from conftest import train_args

    from tunegen.cli import main
    from tunegen.data.batches import TuneTexts

    run = tmp_path / "tunes"
    assert main(train_args(small_abc_dir, run, "--mode", "tunes", "--epochs", "1")) == 0
    checkpoint = load_checkpoint(run / "last.ckpt")
    checkpoint.model.eval()
    texts = list(TuneTexts(run / "corpus-val.txt"))
    training = checkpoint.meta["training"]
    scored = corpus_likelihood(checkpoint, texts, training["batch_size"], training["seq_len"])
    assert scored.bits_per_char == pytest.approx(checkpoint.meta["best_val_bpc"], rel=1e-4)
    carried = corpus_likelihood(checkpoint, texts, 1, training["seq_len"], tune_by_tune=False)
    assert carried.bits_per_char != pytest.approx(scored.bits_per_char, rel=1e-3)


def test_char_losses_add_up_to_the_tune_by_tune_score(trained):
    """One loss per character and one for the end of tune; their mean is the tune's score from
    the initial state, as corpus_likelihood gives it for that tune alone."""
    checkpoint = load_checkpoint(trained / "best.ckpt")
    checkpoint.model.eval()
    text = Tune((("T", "Plain"), ("M", "4/4"), ("K", "D")), ("ABcd|dcBA|",)).text
    losses = char_losses(checkpoint, text)
    assert len(losses) == len(text) + 1 and all(loss >= 0 for loss in losses)
    alone = corpus_likelihood(checkpoint, [text], 1, 64, tune_by_tune=True)
    assert sum(losses) / len(losses) == pytest.approx(alone.loss, rel=1e-5)


@pytest.mark.parametrize("name", ["tunes.abc", "song.MID"])
def test_evaluate_given_tunes_for_a_checkpoint_says_how_to_score_them(tmp_path, capsys, name):
    """`tunegen evaluate tunes.abc` (tunes where the checkpoint goes): one line naming the file
    and the command that scores generated tunes, exit code 2."""
    from tunegen.cli import main

    (tmp_path / name).write_text("X:1\nT:t\nK:C\nCDEF|\n")
    assert main(["evaluate", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and f"--tunes {tmp_path / name}" in err[0], err
