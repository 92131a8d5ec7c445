"""Training and sampling speed on O'Neill's tunes, against the seed's Keras char-RNN in one run.

    python benchmarks/speed.py [--train-minutes 1] [--seed-model CKPT] [--repeats 3]
                               [--tunes-at-1 10]
                               [--keras-python /path/to/venv/bin/python] [--no-train] [--no-append]

Rows: training chars/s for the `seed` and `default` presets (Lightning, the real `tunegen train`
path); `tunegen generate` end to end (a subprocess, as a user runs it) with the bundled model and
a trained `seed` model (--seed-model, else the one the training row just trained), at batch 1
and 64 (--tunes-at-1 runs of one tune and --repeats runs of 64 tunes, seeds 1..N, summed: a
tune's speed moves with how many of its bars are sampled again, a batch's with its longest
tunes), grammar-aware and --free: the chars/s the command prints for its sampling and the
command's wall time; beside them the model-only figures: the
numpy LSTM step alone (us per step of the whole batch) and the stand-in (a seed-shaped LSTM with
random weights sampled without the grammar); the Keras peer (../shared/peers/seed000_keras.py,
run with a Python that has tensorflow-cpu) and seconds to render 100 tunes. Prints a table and
appends it, with the date, the command and the load averages, to RESULTS.md; asserts nothing.
Targets (issue 16, 2 quiet cores): a trained `seed` model through `tunegen generate` >= 8,000
chars/s at batch 1 and >= 27,000 at batch 64; seed training >= 4x the Keras peer; 100 tunes
rendered in under 30 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from tunegen.data.vocab import Vocabulary
from tunegen.models import PRESETS, build_model
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.models.stepping import make_stepper
from tunegen.music.abc import read_corpus, split_train_val
from tunegen.sampling.sampler import SamplingOptions, sample_tunes, sampling_threads
from tunegen.training.config import resolve_configs
from tunegen.training.trainer import train

sys.path.insert(0, str(Path(__file__).parent))
from load import USER_ENV, sampled, tunegen
from render_speed import seconds as render_seconds

PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "seed000_keras.py"
CORPUS = "oneills1850"
RESULTS = Path(__file__).with_name("RESULTS.md")


def training_speed(preset: str, minutes: float, root: Path) -> float:
    """Mean chars/s over the epochs of a `minutes`-long `tunegen train` run."""
    model, config = resolve_configs(
        preset, {}, {"corpus": (CORPUS,), "max_minutes": minutes, "epochs": 1000}
    )
    train(model, config, root / preset)
    with (root / preset / "log.csv").open() as file:
        rows = list(csv.DictReader(file))
    return sum(float(r["chars_per_s"]) for r in rows) / len(rows)


HEADER = "T:Speed\nM:4/4\nL:1/8\nK:D\n"


def sampling_speed(preset: str, vocab: Vocabulary, batch: int, chars: int) -> float:
    """chars/s of sample_tunes for a model of `preset`'s shape (speed does not depend on weights).

    The end-of-tune logit is pushed down so every tune runs the full `chars`, and a primer writes
    the header: a random model would otherwise spend every step in the header grammar, where a
    trained one spends its first few dozen.
    """
    torch.manual_seed(0)
    model = build_model({"vocab_size": len(vocab), **PRESETS[preset]["model"]}).eval()
    with torch.no_grad():
        model.head.bias[vocab.end_id] = -1e4
    # grammar=False: the model-only figure (a random model's text would keep the grammar-aware
    # sampler going back over nearly every bar; `tunegen generate` end to end is in load.py)
    sample_tunes(model, vocab, batch, SamplingOptions(max_symbols=50, seed=0), grammar=False)
    options = SamplingOptions(max_symbols=chars, seed=1)
    start = time.perf_counter()
    with sampling_threads(model, batch):  # the threads `tunegen generate` would use
        texts = sample_tunes(model, vocab, batch, options, primer=HEADER, grammar=False)
    elapsed = time.perf_counter() - start
    return sum(len(t) - len(HEADER) for t in texts) / elapsed


def generate_speed(
    model: Path | None, batch: int, free: bool, repeats: int, folder: Path
) -> tuple[float, float]:
    """`tunegen generate` end to end with `model` (None: the bundled one) at `batch` tunes:
    (the chars/s it prints for its sampling, the command's mean wall seconds), over `repeats`
    runs with seeds 1..repeats, their characters and seconds summed."""
    chars = seconds = wall = 0.0
    for seed in range(1, repeats + 1):
        args = [str(model)] if model is not None else []
        args += ["--num-tunes", str(batch), "--seed", str(seed), "--out", str(folder / "g.abc")]
        elapsed, stdout = tunegen("generate", *args, *(["--free"] if free else []), "--force")
        n, s = sampled(stdout)
        chars, seconds, wall = chars + n, seconds + s, wall + elapsed
    return chars / seconds, wall / repeats


def step_speed(model: Path, batch: int, steps: int) -> float:
    """Microseconds per step of the model alone (the numpy LSTM step of `model` for a batch of
    `batch` rows, with the BLAS threads `tunegen generate` would use): no sampling, no grammar."""
    checkpoint = load_checkpoint(model)
    stepper = make_stepper(checkpoint.model)
    stepper.reset(batch)
    ids = np.zeros(batch, dtype=np.int64)
    with sampling_threads(checkpoint.model, batch):
        for _ in range(20):  # warm the caches
            stepper.step(ids)
        start = time.perf_counter()
        for _ in range(steps):
            stepper.step(ids)
        return (time.perf_counter() - start) / steps * 1e6


def generate_rows(
    name: str, model: Path | None, runs: dict[int, int], folder: Path
) -> list[tuple[str, str]]:
    """The `tunegen generate` rows of one model (`runs`: batch size -> runs, seeds 1..N),
    then its model-only step rows."""
    rows = []
    for batch, repeats in runs.items():
        for free in (False, True):
            speed, wall = generate_speed(model, batch, free, repeats, folder)
            mode = "--free" if free else "grammar-aware"
            rows.append((f"`tunegen generate` {name}, batch {batch}, {mode}: chars/s (wall s)",
                         f"{speed:,.0f} ({wall:.1f})"))  # fmt: skip
    for batch, steps in ((1, 2000), (64, 200)):
        micros = step_speed(model or BUNDLED_MODEL, batch, steps)
        rows.append((f"model only: {name} LSTM step, batch {batch}: us per step (chars/s)",
                     f"{micros:,.0f} ({batch / micros * 1e6:,.0f})"))  # fmt: skip
    return rows


def append_results(command: str, load_before: tuple[float, float, float], table: str) -> None:
    """Append the table with the date, the command and the machine load to RESULTS.md."""
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    threads = {k: v for k, v in USER_ENV.items() if "THREADS" in k or k == "OMP_WAIT_POLICY"}
    lines = [
        f"\n## Speed: training, `tunegen generate` end to end and the model alone "
        f"(`speed.py`, issues 16 and 18), {started}\n",
        "```bash",
        command,
        "```",
        "",
        f"{os.cpu_count()} cores; load averages at the start {load_before[0]:.2f}, "
        f"{load_before[1]:.2f}, {load_before[2]:.2f}, at the end {load[0]:.2f}, {load[1]:.2f}, "
        f"{load[2]:.2f}; thread variables set by the caller: {threads or 'none'}.",
        "",
        table,
    ]
    with RESULTS.open("a", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


def keras_peer(python: str, minutes: float, root: Path) -> dict:
    """Run the seed's Keras model on the same normalised train/validation text."""
    tunes = read_corpus([CORPUS]).tunes
    train_tunes, val_tunes = split_train_val(tunes, 0.05)
    (root / "train.txt").write_text("\n".join(t.abc(1) for t in train_tunes))
    (root / "valid.txt").write_text("\n".join(t.abc(1) for t in val_tunes))
    files = ["--train", str(root / "train.txt"), "--valid", str(root / "valid.txt")]
    command = [python, str(PEER), *files, "--minutes", str(minutes), "--sample-chars", "300"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-minutes", type=float, default=1.0)
    parser.add_argument("--keras-python", help="a Python with tensorflow-cpu for the Keras peer")
    parser.add_argument("--render-tunes", type=int, default=100, help="0: no render row")
    parser.add_argument("--seed-model", type=Path, help="a trained `seed` model to generate with")
    parser.add_argument("--repeats", type=int, default=3, help="generate runs at batch 64")
    parser.add_argument("--tunes-at-1", type=int, default=10, help="generate runs at batch 1")
    parser.add_argument("--no-train", action="store_true", help="no training rows")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    if args.no_train and args.seed_model is None:
        parser.error("--no-train needs --seed-model (the training row trains the seed model)")
    load_before = os.getloadavg()
    vocab = Vocabulary.from_texts(t.text for t in read_corpus([CORPUS]).tunes)
    rows: list[tuple[str, str]] = []
    peer = None
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if not args.no_train:
            peer = (
                keras_peer(args.keras_python, args.train_minutes, root)
                if args.keras_python
                else None
            )
            for preset in ("seed", "default"):
                speed = training_speed(preset, args.train_minutes, root)
                ratio = f" ({speed / peer['train_chars_per_s']:.1f}x Keras)" if peer else ""
                rows.append((f"train chars/s, {preset}", f"{speed:,.0f}{ratio}"))
        seed_model = args.seed_model or root / "seed" / "last.ckpt"
        runs = {1: args.tunes_at_1, 64: args.repeats}
        rows += generate_rows("bundled model", None, runs, root)
        rows += generate_rows("trained `seed` model", seed_model, runs, root)
    for preset in ("seed", "default"):
        for batch, chars in ((1, 3000), (64, 600)):
            speed = sampling_speed(preset, vocab, batch, chars)
            rows.append((f"stand-in (model only, random {preset}-shaped LSTM, no grammar), "
                         f"batch {batch}: chars/s", f"{speed:,.0f}"))  # fmt: skip
    if peer:
        rows.append(("Keras peer train chars/s", f"{peer['train_chars_per_s']:,.0f}"))
        rows.append(("Keras peer sample chars/s, batch 1", f"{peer['sample_chars_per_s']:,.0f}"))
        rows.append((f"Keras peer val bits/char after {args.train_minutes:g} min",
                     f"{peer['valid_bpc']:.3f}"))  # fmt: skip
    if args.render_tunes:
        tunes = read_corpus(["ryansMammoth"], keep_metadata=True).tunes[: args.render_tunes]
        elapsed, rendered = render_seconds(tunes, ("midi", "wav", "svg"))
        rows.append((f"render {len(tunes)} tunes to midi,wav,svg (builtin synth), s",
                     f"{elapsed:.1f} ({rendered} rendered)"))  # fmt: skip
    lines = [f"| measurement ({torch.get_num_threads()} threads) | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    table = "\n".join(lines)
    print("\n" + table)
    if not args.no_append:
        append_results("python benchmarks/speed.py " + " ".join(sys.argv[1:]), load_before, table)


if __name__ == "__main__":
    main()
