"""`tunegen train --init`: fine-tuning grows the vocabulary, starts from the given weights, keeps
its lineage, resumes, generates, works for MIDI, and refuses bad input in one line."""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import shutil
from pathlib import Path

import pytest
import torch

from tunegen.cli import main
from tunegen.data.batches import TuneTexts, encode_texts
from tunegen.data.vocab import Vocabulary
from tunegen.evaluation.likelihood import corpus_likelihood
from tunegen.models import build_model
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.music.abc import hash_fraction, tunebook_text
from tunegen.training.finetune import calibrate_new_biases, grow_rows
from tunegen.web.studio import Studio

SMALL = ["--batch-size", "8", "--seq-len", "32"]
NEW = "éü–"  # characters the bundled model never saw
INITIAL = re.compile(r"initial model on your (\d+) held-out tunes: ([\d.]+) bits/(char|word)")


def initial_figure(out: str) -> float:
    found = INITIAL.search(out)
    assert found, out
    return float(found.group(2))


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="session")
def accented_dir(oneills, tmp_path_factory) -> Path:
    """Twelve O'Neill tunes; those that land in training get titles with characters the bundled
    model never saw, so the held-out ones can be scored by the bundled model itself."""
    plain = oneills.tunes[100:112]
    tunes = [
        type(tune)(tuple((k, f"{v} {NEW}" if k == "T" else v) for k, v in tune.header), tune.body)
        for tune in plain
    ]
    for _ in plain:  # the split's rule (data.write_splits): below 0.05, else the lowest one
        fractions = [hash_fraction(tune.text) for tune in tunes]
        held = [i for i, f in enumerate(fractions) if f < 0.05] or [fractions.index(min(fractions))]
        renamed = [i for i in held if tunes[i] is not plain[i]]
        if not renamed:
            break
        for i in renamed:
            tunes[i] = plain[i]
    folder = tmp_path_factory.mktemp("accented")
    (folder / "tunes.abc").write_text(tunebook_text(tunes), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tuned(accented_dir, tmp_path_factory) -> tuple[Path, str, str]:
    """The bundled model fine-tuned for one epoch on the accented tunes: (run, stdout, stderr)."""
    run = tmp_path_factory.mktemp("tuned") / "mine"
    args = ["train", "--init", "bundled", "--abc", str(accented_dir), "--out", str(run)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main([*args, *SMALL, "--epochs", "1", "--seed", "3"]) == 0
    return run, out.getvalue(), err.getvalue()


def test_new_characters_extend_the_vocabulary_and_are_listed(tuned):
    run, out, err = tuned
    bundled = load_checkpoint(BUNDLED_MODEL)
    mine = load_checkpoint(run / "best.ckpt")
    added = sorted(NEW)
    assert mine.vocab.symbols == [*bundled.vocab.symbols, *added]  # old ids unchanged
    assert mine.model.embedding.weight.shape[0] == len(bundled.vocab) + len(NEW)
    assert "+ 3 new: 'é' 'ü' '–'" in out.replace("'–' 'é' 'ü'", "'é' 'ü' '–'")
    assert "symbols added to the vocabulary:" in out
    assert "the held-out figures mean little below 20 tunes" in err  # 12 tunes


def test_the_first_held_out_figure_is_the_initial_models(tuned):
    run, out, _ = tuned
    held_out = list(TuneTexts(run / "corpus-val.txt"))
    assert held_out and not any(set(NEW) & set(text) for text in held_out)
    bundled = load_checkpoint(BUNDLED_MODEL)
    own = corpus_likelihood(bundled, held_out, 8, 32).bits_per_char
    # the new output rows take their calibrated share (about 1% here: three characters in each
    # ~300-character tune) from the old ones; with no new symbol the figures are equal (below)
    assert own < initial_figure(out) < own + 0.05


# the resumed copy lives in another folder than the run it copies, which Lightning remarks on
@pytest.mark.filterwarnings("ignore:The dirpath has changed:UserWarning")
def test_lineage_is_recorded_shown_by_info_and_kept_on_resume(tuned, accented_dir, capsys):
    run, out, _ = tuned
    lineage = load_checkpoint(run / "last.ckpt").meta["finetuned_from"]
    assert lineage["name"] == "bundled"
    assert lineage["sha256"] == hashlib.sha256(BUNDLED_MODEL.read_bytes()).hexdigest()
    assert lineage["new_symbols"] == sorted(NEW)
    assert lineage["initial_val_bpc"] == pytest.approx(initial_figure(out), abs=5e-4)
    bundled_sampling = load_checkpoint(BUNDLED_MODEL).meta["sampling"]  # its temperatures
    assert load_checkpoint(run / "last.ckpt").meta["sampling"] == bundled_sampling
    assert main(["info", str(run / "best.ckpt")]) == 0
    info = capsys.readouterr().out
    assert "fine-tuned from: bundled (lstm trained on oneills1850+ryansMammoth+airdsAirs" in info
    assert lineage["sha256"][:16] in info
    resumed = run.parent / "resumed"
    shutil.copytree(run, resumed)
    args = ["train", "--resume", str(resumed), "--abc", str(accented_dir), *SMALL]
    assert main([*args, "--epochs", "2", "--seed", "3"]) == 0
    after = load_checkpoint(resumed / "last.ckpt").meta
    assert after["epochs"] >= 2 and after["finetuned_from"] == lineage


def test_generation_from_the_fine_tuned_model_uses_new_characters(tuned, tmp_path, capsys):
    run, _, _ = tuned
    out = tmp_path / "new.abc"
    args = ["generate", str(run), "--num-tunes", "2", "--seed", "1", "--out", str(out)]
    assert main([*args, "--primer", "T:Ré ü\\n", "--max-chars", "300"]) == 0
    assert out.read_text(encoding="utf-8").count("T:Ré ü") == 2


def test_a_fine_tuned_run_is_listed_on_the_web_page(tuned, tmp_path):
    run, _, _ = tuned
    models = tmp_path / "runs"
    shutil.copytree(run, models / "mine-from-bundled")
    studio = Studio(models, tmp_path / "work")
    assert {"mine-from-bundled/best", "mine-from-bundled/last"} <= set(studio.models())
    loaded = studio.checkpoint("mine-from-bundled/best")
    assert loaded.meta["finetuned_from"]["name"] == "bundled"
    assert "é" in loaded.vocab.symbols


def test_without_new_symbols_the_start_is_exactly_the_initial_model(
    trained, small_abc_dir, tmp_path, capsys
):
    run = tmp_path / "again"
    args = ["train", "--init", str(trained / "last.ckpt"), "--abc", str(small_abc_dir)]
    assert main([*args, "--out", str(run), *SMALL, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    held_out = list(TuneTexts(run / "corpus-val.txt"))
    own = corpus_likelihood(load_checkpoint(trained / "last.ckpt"), held_out, 8, 32)
    meta = load_checkpoint(run / "best.ckpt").meta
    assert meta["finetuned_from"]["initial_val_bpc"] == pytest.approx(own.bits_per_char, abs=1e-6)
    assert initial_figure(out) == pytest.approx(own.bits_per_char, abs=5e-4)
    assert "cover your tunes" in out
    assert meta["model"] == load_checkpoint(trained / "last.ckpt").meta["model"]
    assert meta["training"]["lr"] < 0.01  # the fine-tuning default, not the tiny run's 0.01


@pytest.fixture(scope="module")
def midi_base(chorale_midi, tmp_path_factory) -> Path:
    """A tiny MIDI model, one epoch on the chorales."""
    base = tmp_path_factory.mktemp("midi-base") / "base"
    tiny = ["--embedding-size", "8", "--hidden-size", "32", "--batch-size", "2", "--seq-len", "16"]
    assert (
        main(["train", "--midi", str(chorale_midi), "--out", str(base), *tiny, "--epochs", "1"])
        == 0
    )
    return base


def test_a_midi_checkpoint_fine_tunes_on_midi_files(midi_base, chorale_midi, tmp_path, capsys):
    base = midi_base
    run = tmp_path / "tuned"
    args = ["train", "--init", str(base), "--midi", str(chorale_midi), "--transpose-all"]
    assert main([*args, "--out", str(run), "--batch-size", "2", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert INITIAL.search(out).group(3) == "word"
    before, after = load_checkpoint(base / "last.ckpt"), load_checkpoint(run / "best.ckpt")
    added = after.meta["finetuned_from"]["new_symbols"]
    assert added and after.vocab.symbols == [*before.vocab.symbols, *added]  # pitches moved
    assert after.meta["corpus"]["kind"] == "midi"
    assert after.meta["model"]["hidden_size"] == 32
    out_dir = tmp_path / "pieces"
    args = ["generate", str(run), "--num-tunes", "1", "--length", "20", "--seed", "0"]
    assert main([*args, "--out", str(out_dir), "--synth", "builtin"]) == 0
    assert (out_dir / "piece-001.mid").is_file()


def test_new_rows_are_the_mean_and_new_symbols_are_predicted_at_their_share(trained, oneills):
    tiny = load_checkpoint(trained / "last.ckpt")
    texts = [tune.text.replace("T:", "T:é ", 1) for tune in oneills.tunes[:40]]  # ~0.3% é
    vocab = tiny.vocab.with_symbols_of(texts)
    assert vocab.symbols[: len(tiny.vocab)] == tiny.vocab.symbols
    first_new = len(tiny.vocab)
    grown = grow_rows(tiny.model.state_dict(), len(vocab) - first_new)
    mean = tiny.model.embedding.weight.mean(0)
    assert torch.allclose(
        grown["embedding.weight"][first_new:], mean.expand(len(vocab) - first_new, -1)
    )
    model = build_model({**tiny.meta["model"], "vocab_size": len(vocab)})
    model.load_state_dict(grown)
    calibrate_new_biases(model, texts, vocab, first_new)
    ids = torch.from_numpy(encode_texts(texts, vocab).astype("int64"))
    with torch.inference_mode():
        probs = model(ids[None, :-1])[0][0].softmax(-1)
    predicted = probs[:, vocab.index["é"]].mean().item()
    share = (ids[1:] == vocab.index["é"]).float().mean().item()
    assert predicted == pytest.approx(share, rel=0.1)
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--init", "NOTCKPT"], "not a readable checkpoint"),
        (["--init", "bundled", "--midi", "CHORALES"], "is an ABC model: fine-tune it on --abc"),
        (["--init", "bundled", "--abc", "TUNES", "--hidden-size", "256"],
         "--hidden-size 256 contradicts --init bundled, whose --hidden-size is 512"),
        (["--init", "bundled", "--abc", "TUNES", "--tokenizer", "abc"],
         "--tokenizer abc contradicts --init bundled"),
        (["--init", "bundled", "--abc", "TUNES", "--d-model", "64"], "--d-model does not apply"),
        (["--init", "bundled"], "--init needs your tunes"),
        (["--init", "bundled", "--abc", "TUNES", "--resume", "RUN"], "--init starts a new run"),
    ],
)  # fmt: skip
def test_bad_fine_tuning_input_is_one_line_and_writes_nothing(
    extra, message, small_abc_dir, chorale_midi, tmp_path, capsys
):
    junk = tmp_path / "notes.ckpt"
    junk.write_text("not a checkpoint", encoding="utf-8")
    names = {"NOTCKPT": str(junk), "CHORALES": str(chorale_midi), "TUNES": str(small_abc_dir),
             "RUN": str(tmp_path / "old")}  # fmt: skip
    if extra[:2] == ["--init", "NOTCKPT"]:
        extra = [*extra, "--abc", "TUNES"]
    out = tmp_path / "out"
    assert main(["train", *[names.get(a, a) for a in extra], "--out", str(out)]) == 2
    assert message in error_line(capsys)
    assert not out.exists()


def test_a_midi_checkpoint_with_abc_tunes_is_refused(midi_base, small_abc_dir, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "out"
    args = ["train", "--init", str(midi_base / "last.ckpt"), "--abc", str(small_abc_dir)]
    assert main([*args, "--out", str(out)]) == 2
    assert "is a MIDI model: fine-tune it on --midi MIDI files" in error_line(capsys)
    assert not out.exists()
