"""Several processes: disjoint rank streams, a 2-process CPU DDP run, resume in 1, memmapped ids."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tunegen.cli import main
from tunegen.data.batches import StatefulBatches, WindowBatches, encode_texts
from tunegen.data.vocab import Vocabulary
from tunegen.training.config import TrainConfig
from tunegen.training.datamodule import SymbolDataModule

TINY = ["--embedding-size", "16", "--hidden-size", "48", "--layers", "1", "--dropout", "0"]
FAST = ["--seq-len", "32", "--lr", "0.01", "--epochs", "1", "--seed", "2", "--accelerator", "cpu"]


def train_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--abc", str(corpus), "--out", str(out), *TINY, *FAST, *extra]


def log_rows(run: Path) -> list[dict]:
    with (run / "log.csv").open(newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def two_process_run(small_abc_dir, tmp_path_factory) -> tuple[Path, str]:
    """`tunegen train --devices 2` as a user runs it: Lightning launches the second process."""
    run = tmp_path_factory.mktemp("ddp") / "two"
    args = train_args(small_abc_dir, run, "--batch-size", "4", "--devices", "2")
    done = subprocess.run(
        [sys.executable, "-m", "tunegen", *args], capture_output=True, text=True, timeout=300
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return run, output


def test_ranks_take_disjoint_streams_with_equal_steps():
    ids = np.arange(1, 2001)  # every symbol distinct, so values name positions
    ranks = [StatefulBatches(ids, 4, 16, rank, world_size=2) for rank in range(2)]
    single = StatefulBatches(ids, 8, 16)
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    seen = [{int(v) for t in range(len(r)) for v in r[t][0].flatten()} for r in ranks]
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(ids[: 8 * single.stream_len].tolist())  # the whole layout
    assert sorted(np.concatenate([r.starts for r in ranks])) == list(single.starts)


def test_window_ranks_draw_their_own_windows():
    ids = np.arange(5000)
    first, second = (WindowBatches(ids, 8, 32, seed=3, rank=r, world_size=2) for r in range(2))
    assert len(first) == len(second) == (5000 - 1) // (8 * 32 * 2)
    assert not torch.equal(first[0][0], second[0][0])


def test_two_processes_write_one_run_and_match_one_process(
    two_process_run, small_abc_dir, tmp_path
):
    run, output = two_process_run
    assert output.count("effective batch 2 x 4 streams x 32 chars") == 1
    assert output.count("finished after 1 epochs") == 1
    assert sorted(p.name for p in run.glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]
    assert list(run.glob("*.csv")) == [run / "log.csv"] and log_rows(run)[0]["epoch"] == "1"
    single = tmp_path / "one"
    assert main([*train_args(small_abc_dir, single), "--batch-size", "8"]) == 0
    two, one = log_rows(run)[0], log_rows(single)[0]
    # 2 ranks x 4 streams is the same layout as 8 streams in one process, and DDP averages the
    # gradients, so the runs differ only by rounding (~1e-6 measured): 0.01 is a wide margin
    assert float(two["train_loss"]) == pytest.approx(float(one["train_loss"]), abs=0.01)
    assert float(two["val_bpc"]) == pytest.approx(float(one["val_bpc"]), abs=0.01)


def test_resume_a_two_process_run_in_one_process(two_process_run, small_abc_dir):
    run = two_process_run[0]  # resumed in place: Lightning expects checkpoints where they were
    # the same streams: 1 process x 8 is 2 processes x 4 (resume keeps the checkpoint's devices)
    args = train_args(small_abc_dir, run, "--batch-size", "8", "--devices", "1")
    args += ["--resume", str(run)]
    assert main([*args, "--epochs", "2"]) == 0
    assert [r["epoch"] for r in log_rows(run)] == ["1", "2"]
    assert sorted(p.name for p in run.glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]


def test_datasets_read_memory_mapped_ids(oneills, tmp_path):
    tunes = {
        "train": [t.text for t in oneills.tunes[:36]],
        "val": [t.text for t in oneills.tunes[36:40]],
    }
    vocab = Vocabulary.from_texts(t.text for t in oneills.tunes[:40])
    data = SymbolDataModule(tunes, vocab, TrainConfig(batch_size=4, seq_len=32), tmp_path)
    data.prepare_data()
    data.setup("fit")
    batches = data.train_dataloader().dataset
    assert isinstance(batches.ids, np.memmap) and batches.ids.dtype == np.uint8
    in_memory = StatefulBatches(encode_texts(tunes["train"], vocab), 4, 32)
    assert len(batches) == len(in_memory)
    for step in (0, 1, len(in_memory) - 1):
        for mapped, held in zip(batches[step], in_memory[step], strict=True):
            assert mapped.dtype == torch.int64 and torch.equal(mapped, held)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus-train.npy", "corpus-val.npy"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--precision", "64", "--precision must be one of 32, 32-true, bf16-mixed, 16-mixed"),
        ("--devices", "two", "--devices must be a number in [1, 1024] or auto"),
        ("--num-nodes", "0", "--num-nodes must be in [1, 1024]"),
        ("--accelerator", "tpu", "--accelerator must be one of auto, cpu, gpu"),
    ],
)
def test_bad_device_options_are_one_line_errors(option, value, message, capsys):
    assert main(["train", option, value]) == 2
    assert message in capsys.readouterr().err
