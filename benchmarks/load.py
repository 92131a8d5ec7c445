"""`tunegen train` and `tunegen generate` end to end, quiet and beside a competing job (issue 16).

    python benchmarks/load.py [--tunes 300] [--epochs 2] [--repeats 5] [--no-append]

Runs the real commands in subprocesses, with the environment they were given (no thread
variables added: what tunegen does by itself is what is measured):

1. `tunegen train --preset seed` on the first --tunes of O'Neill's for --epochs: the run's own
   chars/s (log.csv) and the command's wall time; the quiet run's model is the `seed` model
   sampled below;
2. `tunegen generate` with that model at batch 1 and at batch 64 (--repeats runs each, seeds
   1..N, their sampled characters and seconds summed): the chars/s the command prints;
3. `tunegen generate --num-tunes 64` with the bundled model: the command's wall time;
4. the model-only stand-in of benchmarks/speed.py (a seed-shaped LSTM with random weights,
   `sample_tunes` in this process): chars/s at batch 1 and 64.

Each is measured quiet, then again while another process runs a torch matrix-product loop on
every core (torch's default threads and wait policy, as a user's other job would). Prints a
table and appends it, with the date, the command and the load averages, to RESULTS.md. Targets
(issue 16): under load no more than 2x slower than quiet; quiet, seed sampling through
`tunegen generate` >= 8,000 chars/s at batch 1 and >= 27,000 at batch 64. Asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("RESULTS.md")
USER_ENV = dict(os.environ)  # before anything here sets thread variables
COMPETITOR = """
import torch
a = torch.randn(1024, 1024)
while True:
    b = a @ a
"""
SAMPLED = re.compile(r"sampled ([\d,]+) characters in ([\d.]+) s \(([\d,]+) chars/s\)")


def tunegen(*args: str) -> tuple[float, str]:
    """Run `python -m tunegen ARGS` with the user's environment: (wall seconds, its stdout)."""
    env = {**USER_ENV, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tunegen", *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"tunegen {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def corpus_file(folder: Path, tunes: int) -> Path:
    from tunegen.music.abc import read_corpus, tunebook_text

    path = folder / "oneills-part.abc"
    path.write_text(tunebook_text(read_corpus(["oneills1850"]).tunes[:tunes]), encoding="utf-8")
    return path


def train(corpus: Path, out: Path, epochs: int) -> dict[str, float]:
    seconds, _ = tunegen(
        "train", "--preset", "seed", "--abc", str(corpus), "--epochs", str(epochs),
        "--out", str(out), "--force",
    )  # fmt: skip
    with (out / "log.csv").open() as file:
        rows = [float(row["chars_per_s"]) for row in csv.DictReader(file)]
    return {"train chars/s": sum(rows) / len(rows), "train wall s": seconds}


def sampled(stdout: str) -> tuple[int, float]:
    """(characters, sampling seconds) from generate's `sampled N characters in S s (R chars/s)`
    line; the seconds come from the rate, which keeps its precision when S prints as 0.0."""
    match = SAMPLED.search(stdout)
    if match is None:
        raise SystemExit(f"no 'sampled ...' line in:\n{stdout}")
    chars = int(match.group(1).replace(",", ""))
    return chars, chars / float(match.group(3).replace(",", ""))


def generate(model: Path, folder: Path, repeats: int) -> dict[str, float]:
    chars = seconds = 0.0
    for seed in range(1, repeats + 1):
        _, out = tunegen("generate", str(model), "--num-tunes", "1", "--seed", str(seed),
                         "--out", str(folder / "one.abc"), "--force")  # fmt: skip
        n, s = sampled(out)
        chars, seconds = chars + n, seconds + s
    n = s = 0.0  # batches of 64, seeds 1..repeats: one batch moves with its longest tunes
    for seed in range(1, repeats + 1):
        _, out = tunegen("generate", str(model), "--num-tunes", "64", "--seed", str(seed),
                         "--out", str(folder / "many.abc"), "--force")  # fmt: skip
        batch_chars, batch_seconds = sampled(out)
        n, s = n + batch_chars, s + batch_seconds
    wall, _ = tunegen("generate", "--num-tunes", "64", "--seed", "1",
                      "--out", str(folder / "bundled.abc"), "--force")  # fmt: skip
    return {
        "seed generate batch 1 chars/s": chars / seconds,
        "seed generate batch 64 chars/s": n / s,
        "bundled generate 64 wall s": wall,
    }


def stand_in() -> dict[str, float]:
    """The model-only figure of benchmarks/speed.py, in this process, through compose's
    thread choice (as `tunegen generate` does)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from speed import sampling_speed

    from tunegen.data.vocab import Vocabulary
    from tunegen.runtime.threads import prepare_environment

    prepare_environment()  # as the CLI does before sampling
    vocab = Vocabulary.from_texts([(ROOT / "README.md").read_text(encoding="utf-8")])
    return {
        "stand-in batch 1 chars/s": sampling_speed("seed", vocab, 1, 2000),
        "stand-in batch 64 chars/s": sampling_speed("seed", vocab, 64, 500),
    }


def measure(corpus: Path, folder: Path, args: argparse.Namespace, name: str) -> dict[str, float]:
    figures = train(corpus, folder / f"seed-{name}", args.epochs)
    model = folder / "seed-quiet" / "last.ckpt"
    figures.update(generate(model, folder, args.repeats))
    figures.update(stand_in())
    figures["load"] = os.getloadavg()[0]
    return figures


ROWS = [  # key, label, target, higher is better
    ("train chars/s", "`tunegen train --preset seed`, chars/s (its log)", "", True),
    ("train wall s", "`tunegen train --preset seed`, wall s (whole command)", "", False),
    ("seed generate batch 1 chars/s", "`tunegen generate` seed model, batch 1, chars/s",
     ">= 8,000", True),
    ("seed generate batch 64 chars/s", "`tunegen generate` seed model, batch 64, chars/s",
     ">= 27,000", True),
    ("bundled generate 64 wall s", "`tunegen generate --num-tunes 64` bundled, wall s", "", False),
    ("stand-in batch 1 chars/s", "stand-in (model only, random seed-shaped LSTM), batch 1",
     "", True),
    ("stand-in batch 64 chars/s", "stand-in (model only), batch 64", "", True),
]  # fmt: skip


def table(quiet: dict[str, float], busy: dict[str, float]) -> str:
    lines = [
        "| measurement | quiet | beside a torch matmul loop | slower by | target |",
        "|---|---:|---:|---:|---|",
    ]
    for key, label, target, higher in ROWS:
        slower = quiet[key] / busy[key] if higher else busy[key] / quiet[key]
        value = "{:,.1f}" if key.endswith("wall s") else "{:,.0f}"
        if not target and key.startswith(("train", "bundled")):
            target = "under load <= 2x slower"
        lines.append(
            f"| {label} | {value.format(quiet[key])} | {value.format(busy[key])} | "
            f"{slower:.2f}x | {target} |"
        )
    load = f"| 1-minute load average at the end | {quiet['load']:.2f} | {busy['load']:.2f} |"
    lines.append(load + " | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tunes", type=int, default=300, help="O'Neill's tunes to train on")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="generate runs per batch size")
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--note", default="", help="a line to record under the table")
    args = parser.parse_args()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tunegen-load-") as tmp:
        folder = Path(tmp)
        corpus = corpus_file(folder, args.tunes)
        quiet = measure(corpus, folder, args, "quiet")
        env = {k: v for k, v in USER_ENV.items() if "THREADS" not in k and "OMP_" not in k}
        competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR], env=env)
        try:
            time.sleep(3)  # its threads are up and spinning
            busy = measure(corpus, folder, args, "busy")
        finally:
            competitor.kill()
            competitor.wait()
    text = table(quiet, busy)
    print(text)
    if args.no_append:
        return
    shown = [arg for arg in sys.argv[1:] if arg != args.note] if args.note else sys.argv[1:]
    command = "python benchmarks/load.py " + " ".join(shown)
    threads = {k: v for k, v in USER_ENV.items() if "THREADS" in k or k == "OMP_WAIT_POLICY"}
    header = [
        f"\n## Under load: `tunegen train` and `generate` end to end, quiet and beside a torch "
        f"matrix-product loop (`load.py`, issue 16), {started}\n",
        "```bash",
        command.strip(),
        "```",
        "",
        f"{os.cpu_count()} cores; load averages at the start {load_before[0]:.2f}, "
        f"{load_before[1]:.2f}, {load_before[2]:.2f}; thread variables set by the caller: "
        f"{threads or 'none'}.",
        "",
        text,
    ]
    if args.note:
        header += ["", args.note]
    with RESULTS.open("a", encoding="utf-8") as file:
        file.write("\n".join(header) + "\n")


if __name__ == "__main__":
    main()
