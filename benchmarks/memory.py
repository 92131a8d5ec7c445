"""Peak memory for a large corpus: read it, encode it to a memory-mapped .npy, train from that.

    python benchmarks/memory.py [--megabytes 200] [--steps 50]

Builds a folder of about --megabytes of ABC by repeating music21's bundled essenFolksong and
oneills1850 tunes, a tunebook per copy (each copy's tunes get an extra `T:copy N` line, so none is
dropped as a duplicate).
In this process it reads the corpus as `tunegen train` does (one streaming pass into split text
files, then the vocabulary), then encodes the training split into a .npy file;
in a fresh process that never sees the text it trains the `default` preset for --steps steps with
Lightning on the memory-mapped stateful batches. Peak RSS comes from resource.getrusage (the
training process reports its own VmHWM, since ru_maxrss carries over the parent's). The last
row scales the measured peaks linearly to a 1 GB corpus (training from the memmap does not grow
with the corpus). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from tunegen.data.batches import StatefulBatches, encode_texts, load_encoded
from tunegen.data.vocab import Vocabulary
from tunegen.models import preset
from tunegen.music.abc import read_corpus
from tunegen.training.config import TrainConfig
from tunegen.training.corpus import prepare_corpus
from tunegen.training.module import LanguageModel

MB = 2**20
SOURCES = ["essenFolksong+oneills1850"]


def peak_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def since(started: float) -> float:
    return time.perf_counter() - started


def write_big_corpus(folder: Path, megabytes: float) -> int:
    """Write copies of the bundled tunes, one tunebook per copy, until `megabytes`; bytes."""
    tunes = read_corpus(SOURCES).tunes
    folder.mkdir()
    written, copy = 0, 0
    while written < megabytes * MB:
        copy += 1
        with (folder / f"copy-{copy:04d}.abc").open("w", encoding="utf-8") as file:
            for number, tune in enumerate(tunes, 1):
                text = f"X:{number}\nT:copy {copy}\n{tune.text}\n"
                file.write(text)
                written += len(text.encode("utf-8"))
    return written


def own_peak_mb() -> float:
    """Peak RSS of this process image (VmHWM): ru_maxrss would include the forking parent's."""
    status = Path("/proc/self/status").read_text()
    return (
        int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
        / 1024
    )


def train_steps(
    npy: Path, symbols: list[str], info: dict, steps: int, peaks: multiprocessing.Queue
) -> None:
    """Train the default preset for `steps` steps on memory-mapped stateful batches."""
    vocab = Vocabulary(symbols)
    config = TrainConfig()
    module = LanguageModel(preset("default")["model"], config, vocab, info)
    batches = StatefulBatches(load_encoded(npy), config.batch_size, config.seq_len)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    peaks.put(own_peak_mb())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=200, help="corpus size to build")
    parser.add_argument("--steps", type=int, default=50, help="training steps from the memmap")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        corpus_mb = write_big_corpus(root / "big", args.megabytes) / MB
        rows.append(("imports + corpus file written", corpus_mb, None, peak_mb(), None))

        started = time.perf_counter()
        config = TrainConfig(corpus=(str(root / "big"),))
        texts, vocab, info = prepare_corpus(config, root / "run")
        label = "read, normalise, split to text files, vocabulary (streamed)"
        rows.append((label, corpus_mb, None, peak_mb(), since(started)))

        started = time.perf_counter()
        npy = root / "corpus-train.npy"
        encode_texts(texts["train"], vocab, npy)
        npy_mb = npy.stat().st_size / MB
        rows.append(("encode to .npy (streamed)", corpus_mb, npy_mb, peak_mb(), since(started)))

        started = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")
        peaks = spawn.Queue()
        child = spawn.Process(
            target=train_steps, args=(npy, vocab.symbols, info, args.steps, peaks)
        )
        child.start()
        child_peak = peaks.get()
        child.join()
        label = f"train {args.steps} steps from memmap (new process)"
        rows.append((label, corpus_mb, npy_mb, child_peak, since(started)))
    print_table(rows)


def print_table(rows: list[tuple]) -> None:
    print("| phase | corpus MB | .npy MB | peak RSS MB | seconds | peak RSS at 1 GB corpus |")
    print("|---|---:|---:|---:|---:|---:|")
    base = rows[0][3]
    for label, corpus_mb, npy_mb, peak, seconds in rows:
        npy = f"{npy_mb:.0f}" if npy_mb is not None else "-"
        took = f"{seconds:.1f}" if seconds is not None else "-"
        if label.startswith("train"):
            at_1gb = f"~{peak:.0f} (does not grow)"
        else:  # what reading and encoding add above the baseline grows with the corpus
            at_1gb = f"~{base + (peak - base) * 1024 / corpus_mb:.0f}"
        print(f"| {label} | {corpus_mb:.0f} | {npy} | {peak:.0f} | {took} | {at_1gb} |")


if __name__ == "__main__":
    main()
