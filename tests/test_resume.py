"""Resume remembers its run: exact mid-epoch continuation, contradictions refused, crash-safe
checkpoints with verified weights."""

from __future__ import annotations

import csv
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import train_args

from tunegen.cli import main
from tunegen.errors import CheckpointError, UsageError
from tunegen.models.checkpoint import load_checkpoint, read_checkpoint_file, write_checkpoint
from tunegen.training.config import TrainConfig, resolve_configs
from tunegen.training.module import LanguageModel
from tunegen.training.resume import merge_with_checkpoint, saved_config

STOP_AT = 30  # optimizer steps; an epoch of the small corpus at 8 x 32 has about 60


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def stop_at_step(monkeypatch):
    """Make training raise KeyboardInterrupt (as Ctrl-C would) right after optimizer step 30."""
    original = LanguageModel.on_train_batch_end

    def interrupt(self, outputs, batch, batch_idx):
        original(self, outputs, batch, batch_idx)
        if self.global_step == STOP_AT:
            raise KeyboardInterrupt

    monkeypatch.setattr(LanguageModel, "on_train_batch_end", interrupt)
    handler = signal.getsignal(signal.SIGINT)
    yield monkeypatch
    signal.signal(signal.SIGINT, handler)  # Lightning ignores Ctrl-C while it shuts down


def _log(run: Path) -> list[dict]:
    with (run / "log.csv").open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.mark.parametrize("hook, batch", [("on_validation_batch_start", 0), ("validation_step", 1)])
def test_a_run_stopped_during_validation_resumes(small_abc_dir, tmp_path, monkeypatch, hook, batch):
    """Ctrl-C while the first epoch is validated (before a batch, or inside one): the resumed
    run validates that epoch again from its first batch and writes its log row, with the same
    figures as a run never stopped; then it trains on, quietly."""
    original = getattr(LanguageModel, hook)

    def interrupt(self, batch_, batch_idx, dataloader_idx=0):
        if self.current_epoch == 0 and batch_idx == batch and not self.trainer.sanity_checking:
            raise KeyboardInterrupt
        return original(self, batch_, batch_idx, dataloader_idx)

    monkeypatch.setattr(LanguageModel, hook, interrupt)
    handler = signal.getsignal(signal.SIGINT)
    run, straight = tmp_path / "run", tmp_path / "straight"
    common = ["--epochs", "2", "--seed", "3"]
    try:
        assert main(train_args(small_abc_dir, run, *common)) == 130
    finally:
        signal.signal(signal.SIGINT, handler)
    monkeypatch.undo()
    assert load_checkpoint(run / "last.ckpt").meta["epochs"] == 0  # its validation was cut
    assert not (run / "log.csv").exists() or not _log(run)
    assert main(["train", "--resume", str(run)]) == 0  # (a warning would be an error here)
    assert load_checkpoint(run / "last.ckpt").meta["epochs"] == 2  # two epochs, not three
    assert main(train_args(small_abc_dir, straight, *common)) == 0
    resumed, whole = _log(run), _log(straight)
    assert [row["epoch"] for row in resumed] == ["1", "2"]
    for mine, theirs in zip(resumed, whole, strict=True):
        for column in ("val_loss", "val_acc", "val_bpc", "val_clean_bpc", "lr"):
            assert mine[column] == theirs[column], (mine["epoch"], column)
        for column in ("train_loss", "train_acc"):
            assert float(mine[column]) == pytest.approx(float(theirs[column]), rel=1e-9)
        assert float(mine["chars_per_s"]) > 0.01 * float(theirs["chars_per_s"])
    best = load_checkpoint(run / "best.ckpt").meta
    assert best["best_val_bpc"] == pytest.approx(min(float(row["val_bpc"]) for row in whole))


@pytest.mark.parametrize("mode", ["stateful", "tunes", "windows"])
def test_resume_in_mid_epoch_is_bit_exact(small_abc_dir, tmp_path, stop_at_step, mode):
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = ["--seed", "5", "--dropout", "0.1", "--mode", mode]
    assert main(train_args(small_abc_dir, split, *common, "--epochs", "2")) == 130
    stop_at_step.undo()
    interrupted = read_checkpoint_file(split / "last.ckpt")
    assert interrupted["global_step"] == STOP_AT
    assert load_checkpoint(split / "last.ckpt").meta["epochs"] == 0  # epoch 1 is unfinished
    assert main(["train", "--resume", str(split)]) == 0  # everything else from the checkpoint
    assert main(train_args(small_abc_dir, straight, *common, "--epochs", "2")) == 0
    a, b = read_checkpoint_file(straight / "last.ckpt"), read_checkpoint_file(split / "last.ckpt")
    assert a["global_step"] == b["global_step"] > 2 * STOP_AT
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    assert load_checkpoint(split / "last.ckpt").meta["epochs"] == 2
    # the log rows count the whole epoch, its batches before the Ctrl-C included
    for mine, theirs in zip(_log(split), _log(straight), strict=True):
        assert mine["val_bpc"] == theirs["val_bpc"]
        for column in ("train_loss", "train_acc"):
            assert float(mine[column]) == pytest.approx(float(theirs[column]), rel=1e-9)
        assert float(mine["chars_per_s"]) > 0.01 * float(theirs["chars_per_s"])


def test_resume_refuses_contradictions_and_names_what_may_change(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for option in (["--batch-size", "16"], ["--lr", "0.002"], ["--preset", "seed"],
                   ["--hidden-size", "64"], ["--abc", "oneills1850"], ["--midi", "x.mid"],
                   ["--tokenizer", "abc"], ["--val-fraction", "0.1"]):  # fmt: skip
        assert main(["train", "--resume", str(run), *option]) == 2, option
        line = error_line(capsys)
        assert "contradicts" in line and option[0].split("-")[-1] in line, line
    meta = read_checkpoint_file(run / "last.ckpt")["tunegen"]
    config, notes = merge_with_checkpoint(meta, {"epochs": 9, "batch_size": 8, "seed": 1})
    assert config == replace(saved_config(meta, "x"), epochs=9)
    assert notes == [("epochs", ": 9 (the checkpoint had 4)")]


def test_train_config_round_trips_through_a_checkpoint(trained, small_abc_dir, tmp_path):
    # the options conftest's FAST and the `trained` fixture give
    chosen = {"batch_size": 8, "seq_len": 32, "lr": 0.01, "checkpoint_every": 2, "epochs": 4}
    chosen["keep_unclean"] = True
    _, expected = resolve_configs(
        "default", {}, {**chosen, "seed": 1, "corpus": (str(small_abc_dir),)}
    )
    raw = read_checkpoint_file(trained / "last.ckpt")
    saved = saved_config(raw["tunegen"], "x")
    assert saved == expected
    write_checkpoint(raw, tmp_path / "copy.ckpt")
    assert saved_config(read_checkpoint_file(tmp_path / "copy.ckpt")["tunegen"], "x") == saved
    configs = (TrainConfig(), TrainConfig(corpus=("a", "b+c"), devices="auto", lr=0.1))
    for config in (*configs, TrainConfig(transpose=("D", "Bm"), keep_unclean=True)):
        assert TrainConfig.from_dict(config.to_dict()) == config


def test_resume_reports_a_changed_corpus_file(small_abc_dir, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(small_abc_dir, corpus)
    run = tmp_path / "run"
    assert main(train_args(corpus, run, "--epochs", "1")) == 0
    with (corpus / "b.abc").open("a") as file:
        file.write("\nX:99\nT:New\nK:D\nDEFG|\n")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 2
    line = error_line(capsys)
    assert "corpus changed" in line and "b.abc changed" in line


def test_a_damaged_checkpoint_is_one_line_naming_it(trained, tmp_path, capsys):
    raw = read_checkpoint_file(trained / "best.ckpt")
    raw["state_dict"]["model.head.bias"][:16] = 1e28  # flipped bits, as on a failing disk
    damaged = tmp_path / "damaged.ckpt"
    torch.save(raw, damaged)  # not write_checkpoint: the stored digest is the old weights'
    with pytest.raises(CheckpointError, match=r"damaged\.ckpt: damaged"):
        load_checkpoint(damaged)
    text = tmp_path / "text.ckpt"
    text.write_text("epoch 1 loss 2.3\n")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes((trained / "best.ckpt").read_bytes()[:5000])
    for path in (damaged, text, truncated):
        assert main(["generate", str(path), "--out", str(tmp_path / "x.abc")]) == 2
        assert str(path) in error_line(capsys)
    assert not (tmp_path / "x.abc").exists()


WRITER = """
import sys
from pathlib import Path
from tunegen.runtime.fileio import write_atomically
payloads = [Path(p).read_bytes() for p in sys.argv[2:]]
target, n = Path(sys.argv[1]), 0
while True:
    write_atomically(target, payloads[n % len(payloads)], sync=n % 2 == 0)
    n += 1
    if n == 1:
        print("written", flush=True)
"""


def test_a_killed_writer_always_leaves_a_loadable_checkpoint(trained, tmp_path):
    """kill -9 a process rewriting last.ckpt in a loop, at random moments: the file left behind
    always loads and verifies, and no temporary file is left but the one being written."""
    sources = [trained / "best.ckpt", trained / "last.ckpt"]
    target = tmp_path / "last.ckpt"
    rng = random.Random(17)
    env_path = str(Path(__file__).parents[1] / "src")
    for _ in range(12):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), *map(str, sources)],
            stdout=subprocess.PIPE,
            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        )
        try:
            assert process.stdout.readline() == b"written\n"
            time.sleep(rng.uniform(0, 0.05))
        finally:
            process.kill()
            process.wait()
            process.stdout.close()
        load_checkpoint(target)
    write_checkpoint(read_checkpoint_file(sources[0]), target)
    # a kill in mid-write leaves a temporary file; the next checkpoint written there removes it
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_resume_may_move_to_other_devices_with_the_same_streams(trained):
    meta = read_checkpoint_file(trained / "last.ckpt")["tunegen"]  # 1 process x 8 streams
    config, notes = merge_with_checkpoint(meta, {"batch_size": 4, "devices": 2})
    assert (config.batch_size, config.devices) == (4, 2) and len(notes) == 2
    with pytest.raises(UsageError, match="batch size x processes"):
        merge_with_checkpoint(meta, {"batch_size": 4})
