"""Training end to end on real tunes: loss falls, exact resume, Ctrl-C saves, generation."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import FAST, TINY, train_args

from tunegen.cli import build_parser, main
from tunegen.errors import SettingError
from tunegen.models import build_model
from tunegen.models.checkpoint import load_checkpoint, read_checkpoint_file
from tunegen.music.abc import parse_tunebook
from tunegen.training.config import TrainConfig, resolve_configs
from tunegen.training.plan import chosen_settings


def log_rows(run: Path) -> list[dict]:
    with (run / "log.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def weights(path: Path) -> dict:
    return read_checkpoint_file(path)["state_dict"]


def test_training_writes_log_plot_and_checkpoints_and_loss_falls(trained):
    rows = log_rows(trained)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert list(rows[0]) == [
        "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_bpc", "val_clean_bpc",
        "chars_per_s", "lr",
    ]  # fmt: skip
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"]) - 0.3
    assert float(rows[-1]["val_bpc"]) < float(rows[0]["val_bpc"])
    assert all(float(r["chars_per_s"]) > 0 for r in rows)
    names = {p.name for p in trained.iterdir()}
    assert {"best.ckpt", "last.ckpt", "epoch-001.ckpt", "epoch-003.ckpt", "curves.png"} <= names
    assert (trained / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoint_carries_everything_generation_needs(trained):
    checkpoint = load_checkpoint(trained / "best.ckpt")
    meta = checkpoint.meta
    assert meta["model"]["hidden_size"] == 48 and meta["model"]["kind"] == "lstm"
    assert meta["training"]["batch_size"] == 8 and meta["corpus"]["train_tunes"] > 50
    assert meta["best_val_bpc"] == pytest.approx(
        min(float(r["val_bpc"]) for r in log_rows(trained))
    )
    assert checkpoint.vocab.symbols[0] == "<eot>"


def test_config_round_trips_through_the_checkpoint(trained, small_abc_dir):
    """TrainConfig and model config -> checkpoint -> equal configs: what the command line asked
    for is what the checkpoint says, and rebuilding from it gives the same objects."""
    args = build_parser().parse_args(train_args(small_abc_dir, trained, "--epochs", "4",
                                                "--seed", "1", "--keep-unclean"))  # fmt: skip
    training, model = chosen_settings(vars(args))
    model_config, config = resolve_configs(
        "default", model, {"corpus": tuple(args.abc), **training}
    )
    checkpoint = load_checkpoint(trained / "last.ckpt")
    assert TrainConfig.from_dict(checkpoint.meta["training"]) == config
    saved_model = checkpoint.meta["model"]
    assert saved_model == {**saved_model, **model_config}  # every chosen shape value is saved
    assert build_model(saved_model).config == checkpoint.model.config
    assert checkpoint.model.config.to_dict() == saved_model


def test_every_train_setting_survives_the_checkpoint_format():
    """Every field away from its default (tuples, None, "auto", floats) reads back equal from
    the dict a checkpoint stores, after torch's safe (weights_only) save and load."""
    import io

    config = TrainConfig(
        preset="seed", tokenizer="abc", mode="windows", batch_size=3, seq_len=17, lr=0.0123,
        grad_clip=0.5, epochs=7, max_minutes=1.5, val_fraction=0.1, checkpoint_every=2, seed=9,
        corpus=("a.abc", "b+c"), keep_metadata=True, keep_unclean=True, transpose=("D", "Bm"),
        accelerator="auto", devices="auto", num_nodes=2, precision="bf16-mixed",
    )  # fmt: skip
    midi = TrainConfig(corpus_kind="midi", tokenizer="words", codec="seed003", grid=8,
                       parts="Bass", transpose_all=True, devices=4, max_minutes=None)  # fmt: skip
    assert {
        f
        for f in TrainConfig.__dataclass_fields__
        if getattr(config, f) == getattr(TrainConfig(), f)
        and getattr(midi, f) == getattr(TrainConfig(), f)
    } == set()
    for original in (config, midi):
        original.validate()
        buffer = io.BytesIO()
        torch.save({"training": original.to_dict()}, buffer)
        buffer.seek(0)
        stored = torch.load(buffer, weights_only=True)["training"]
        assert TrainConfig.from_dict(stored) == original


def test_library_errors_name_settings_and_the_cli_names_flags(capsys):
    with pytest.raises(SettingError) as caught:
        TrainConfig(max_minutes=-1.0).validate()
    assert str(caught.value) == "max_minutes must be > 0 and finite, got -1.0"
    assert caught.value.settings == ("max_minutes",)
    assert main(["train", "--max-minutes", "-1", "--num-nodes", "1"]) == 2
    assert capsys.readouterr().err == (
        "tunegen: error: --max-minutes must be > 0 and finite, got -1.0\n"
    )


def test_tunes_mode_starts_each_tune_from_the_initial_state():
    """A row whose chunk opens a tune gets the initial state, as generate starts a tune; the
    other rows carry theirs on; padding targets count for nothing."""
    from tunegen.data.batches import IGNORE
    from tunegen.data.vocab import Vocabulary
    from tunegen.training.module import LanguageModel

    vocab = Vocabulary.from_texts(["X:1\nK:D\nabc\n"])
    model_config, config = resolve_configs("default", {"hidden_size": 16}, {"mode": "tunes"})
    module = LanguageModel(model_config, config, vocab, {"train_chars": 1, "train_symbols": 1})
    module.eval()  # no dropout
    x = torch.tensor([[0, 3, 4, 5], [6, 7, 8, 9]])  # row 0 opens a tune; row 1 goes on
    y = torch.tensor([[3, 4, 5, IGNORE], [7, 8, 9, 0]])
    torch.manual_seed(0)
    state = [(torch.randn(2, 16), torch.randn(2, 16))]
    module._state["train"] = state
    with torch.no_grad():
        loss, _, count = module._shared_step((x, y), 1, "train")
        logits0, (fresh,) = module.model(x[:1], None)
        logits1, (carried,) = module.model(x[1:], [(h[1:], c[1:]) for h, c in state])
    ((h, c),) = module._state["train"]
    assert torch.allclose(h, torch.cat([fresh[0], carried[0]]), atol=1e-6)
    assert torch.allclose(c, torch.cat([fresh[1], carried[1]]), atol=1e-6)
    assert count == 7
    logits = torch.cat([logits0[0, :3], logits1[0]])
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([3, 4, 5, 7, 8, 9, 0]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_tunes_mode_validates_each_held_out_tune_from_the_initial_state(small_abc_dir, tmp_path):
    """A model trained tune by tune is scored as it samples: each held-out tune from the
    initial state (in streams that carry the state across tunes it would start every tune from
    a state it never learned from)."""
    import math

    from torch.nn import functional as F

    from tunegen.data.batches import TuneTexts

    run = tmp_path / "tunes"
    assert main(train_args(small_abc_dir, run, "--mode", "tunes", "--epochs", "1")) == 0
    checkpoint = load_checkpoint(run / "last.ckpt")
    checkpoint.model.eval()
    nats = chars = 0.0
    with torch.no_grad():
        for text in TuneTexts(run / "corpus-val.txt"):
            ids = torch.tensor([0, *checkpoint.vocab.encode(text), 0])
            logits, _ = checkpoint.model(ids[None, :-1], None)
            nats += F.cross_entropy(logits[0], ids[1:], reduction="sum").item()
            chars += len(text) + 1
    logged = float(log_rows(run)[-1]["val_bpc"])
    assert logged == pytest.approx(nats / chars / math.log(2), rel=1e-4)


def test_tunes_mode_epoch_figures_are_per_target_and_ended_streams_take_no_step(
    small_abc_dir, tmp_path
):
    """Steps after every stream of the epoch has ended have no target: they are skipped (no
    optimizer step), and the epoch's train loss and accuracy are means over targets, not NaN."""
    import math

    import numpy as np

    from tunegen.data.batches import IGNORE, TuneBatches

    run = tmp_path / "tunes"
    assert main(train_args(small_abc_dir, run, "--mode", "tunes", "--epochs", "1")) == 0
    batches = TuneBatches(np.load(run / "corpus-train.npy"), 8, 32, seed=0)
    empty = [step for step in range(len(batches)) if not (batches[step][1] != IGNORE).any()]
    assert empty, "the corpus should leave this epoch a step with no target"
    row = log_rows(run)[-1]
    assert math.isfinite(float(row["train_acc"])) and 0 < float(row["train_acc"]) < 1
    assert math.isfinite(float(row["train_loss"])) and float(row["train_loss"]) > 1


def test_tunes_mode_is_for_lstms():
    with pytest.raises(SettingError, match="tunes is for LSTM models"):
        resolve_configs("transformer", {}, {"mode": "tunes"})


@pytest.mark.parametrize("mode", ["stateful", "tunes", "windows"])
def test_resume_continues_exactly(small_abc_dir, tmp_path, mode):
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = ["--mode", mode, "--seed", "3"]
    assert main(train_args(small_abc_dir, straight, *common, "--epochs", "2")) == 0
    assert main(train_args(small_abc_dir, split, *common, "--epochs", "1")) == 0
    assert (
        main(train_args(small_abc_dir, split, *common, "--epochs", "2", "--resume", str(split)))
        == 0
    )
    a, b = weights(straight / "last.ckpt"), weights(split / "last.ckpt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    assert [r["epoch"] for r in log_rows(split)] == ["1", "2"]
    assert float(log_rows(split)[1]["val_bpc"]) == pytest.approx(
        float(log_rows(straight)[1]["val_bpc"])
    )


def test_ctrl_c_saves_then_resume_and_generate(small_abc_dir, tmp_path):
    run = tmp_path / "interrupted"
    command = [sys.executable, "-m", "tunegen", *train_args(small_abc_dir, run, "--epochs", "500")]
    # a shell starts background jobs with Ctrl-C ignored, and a child inherits that: restore it,
    # as a terminal would, so the test also runs under `.ci/run &` or nohup
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "log.csv").exists() or len(log_rows(run)) < 1:
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, output
    assert "interrupted: saved" in output
    done = len(log_rows(run))
    assert load_checkpoint(run / "last.ckpt").meta["epochs"] >= done
    resumed = train_args(small_abc_dir, run, "--epochs", str(done + 1), "--resume", str(run))
    assert main(resumed) == 0
    assert len(log_rows(run)) == done + 1

    out = tmp_path / "tunes.abc"
    assert main(["generate", str(run), "--num-tunes", "5", "--seed", "7", "--out", str(out)]) == 0
    book = out.read_text()
    assert [line for line in book.splitlines() if line.startswith("X:")] == [
        f"X:{n}" for n in range(1, 6)
    ]
    _, report = parse_tunebook(book)
    assert report.read == 5


def test_generate_does_not_import_lightning(trained, tmp_path):
    out = tmp_path / "book.abc"
    code = (
        "import sys\nfrom tunegen.cli import main\n"
        f"rc = main(['generate', {str(trained)!r}, '--num-tunes', '3', '--max-chars', '200',"
        f" '--seed', '1', '--out', {str(out)!r}])\n"
        "assert rc == 0, rc\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "assert not loaded & {'lightning', 'pytorch_lightning'}, loaded"
    )
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert out.read_text().count("X:") == 3


def test_generate_is_reproducible_with_seed(trained, tmp_path):
    books = []
    for name in ("a.abc", "b.abc"):
        args = ["generate", str(trained / "best.ckpt"), "--num-tunes", "4", "--seed", "11"]
        assert main([*args, "--meter", "6/8", "--out", str(tmp_path / name)]) == 0
        books.append((tmp_path / name).read_text())
    assert books[0] == books[1]
    assert books[0].count("M:6/8\n") >= 4


def test_info_describes_the_checkpoint(trained, capsys):
    assert main(["info", str(trained / "best.ckpt")]) == 0
    out = capsys.readouterr().out
    for expected in (
        "lstm.1",
        "(batch, time, 48)",
        "vocabulary:",
        "epochs trained: 4",
        "bits/char",
    ):
        assert expected in out


def test_unknown_primer_character(trained, tmp_path, capsys):
    args = ["generate", str(trained), "--primer", "T:€", "--out", str(tmp_path / "x.abc")]
    assert main(args) == 2
    assert "'€' (U+20AC) is not in the model's vocabulary" in capsys.readouterr().err
    assert not (tmp_path / "x.abc").exists()


def test_generate_then_render(trained, tmp_path, capsys):
    out = tmp_path / "new.abc"
    args = ["generate", str(trained), "--num-tunes", "2", "--seed", "3", "--out", str(out)]
    primer = r"T:Test\nM:6/8\nL:1/8\nK:D\n"  # a whole header: this tiny model rarely writes one
    code = main([*args, "--primer", primer, "--render", "midi,svg", "--max-chars", "300"])
    page = tmp_path / "new-render" / "index.html"
    assert page.exists() and "001-" in page.read_text()
    assert code in (0, 2)  # 2 only if no sampled tune of this tiny model could be rendered
    assert "index.html" in capsys.readouterr().out


@pytest.mark.parametrize(
    "options",
    [
        ["--preset", "transformer", "--d-model", "16", "--heads", "2", "--layers", "1",
         "--context", "16"],
        [*TINY, "--tokenizer", "abc"],
    ],
    ids=["transformer", "abc-tokens"],
)  # fmt: skip
def test_other_models_and_tokenizers_train_and_compose(options, small_abc_dir, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--abc", str(small_abc_dir), "--out", str(run), *FAST, *options]
    assert main([*args, "--epochs", "1"]) == 0
    out = tmp_path / "jigs.abc"
    assert main(["generate", str(run), "--num-tunes", "3", "--max-chars", "300", "--seed", "1",
                 "--title", "Test", "--meter", "6/8", "--out", str(out)]) == 0  # fmt: skip
    tunes = out.read_text().split("\n\n")  # an untrained model may not write K: yet
    headers = [[line for line in tune.split("\n") if line[:1] != "%"][1:3] for tune in tunes]
    assert headers == [["T:Test", "M:6/8"]] * 3
    assert load_checkpoint(run).meta["corpus"]["val_symbols"] > 0
