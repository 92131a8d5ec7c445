"""Held-out bits per character of checkpoints, scored both ways (issue 14).

    python benchmarks/heldout.py [CKPT ...] [--no-append]

For each checkpoint (default: the bundled model): its held-out tunes (the split its training
made), as they are and cleaned (abc_clean, as training cleans), scored in streams that carry the
state from tune to tune (as `--mode stateful` validates: as many streams as its batch, chunks of
its seq_len, so each stream starts in mid-tune from the initial state) and tune by tune, each
from the initial state, as `generate` starts a tune and `--mode tunes` validates. Prints a table
and appends it, with the date and the load averages, to RESULTS.md; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path

from tunegen.data.splits import held_out_tunes
from tunegen.evaluation.likelihood import corpus_likelihood
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.music.abc_clean import TuneCleaner

RESULTS = Path(__file__).with_name("RESULTS.md")


def rows(path: Path) -> list[str]:
    checkpoint = load_checkpoint(path)
    training = checkpoint.meta["training"]
    raw = [tune.text for tune in held_out_tunes(training)]
    cleaner = TuneCleaner()
    clean = [text for text in (cleaner.text(t) for t in raw) if text is not None]
    batch, seq_len = training["batch_size"], training["seq_len"]
    mode = training.get("mode", "stateful")
    figures = []
    for texts in (raw, clean):
        carried = corpus_likelihood(checkpoint, texts, batch, seq_len, tune_by_tune=False)
        fresh = corpus_likelihood(checkpoint, texts, batch, seq_len, tune_by_tune=True)
        figures += [carried.bits_per_char, fresh.bits_per_char]
    return [
        f"| {path} ({mode} x {seq_len}) | {len(raw)} / {len(clean)} | "
        + " | ".join(f"{value:.3f}" for value in figures)
        + " |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, default=[BUNDLED_MODEL])
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    lines = [
        "| checkpoint (how it trained) | held-out tunes / cleaned | as they are: carried | "
        "as they are: tune by tune | cleaned: carried | cleaned: tune by tune |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for path in args.checkpoints:
        lines += rows(path)
    table = "\n".join(lines)
    print(table)
    if args.no_append:
        return
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    with RESULTS.open("a") as file:
        file.write(
            f"\n## Held-out bits/char, carried streams and tune by tune (`heldout.py`, issue 14), "
            f"{stamp}\n\n`python benchmarks/heldout.py {' '.join(map(str, args.checkpoints))}`; "
            f"load averages {load}.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
