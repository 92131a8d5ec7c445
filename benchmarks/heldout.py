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
import difflib
import math
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tunegen.data.splits import held_out_tunes
from tunegen.evaluation.likelihood import char_losses, corpus_likelihood
from tunegen.models.checkpoint import BUNDLED_MODEL, Checkpoint, load_checkpoint
from tunegen.music.abc_clean import TuneCleaner
from tunegen.music.abc_syntax import FINGERINGS

RESULTS = Path(__file__).with_name("RESULTS.md")


@dataclass
class HeldOut:
    """A checkpoint and its held-out tunes, as they are and cleaned (None: cleaning drops it),
    read once for both tables."""

    path: Path
    checkpoint: Checkpoint
    raw: list[str]
    cleaned: list[str | None]

    @classmethod
    def read(cls, path: Path) -> HeldOut:
        checkpoint = load_checkpoint(path)
        raw = [tune.text for tune in held_out_tunes(checkpoint.meta["training"])]
        cleaner = TuneCleaner()
        return cls(path, checkpoint, raw, [cleaner.text(text) for text in raw])


def rows(held: HeldOut) -> list[str]:
    checkpoint, path, raw = held.checkpoint, held.path, held.raw
    training = checkpoint.meta["training"]
    clean = [text for text in held.cleaned if text is not None]
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


def stripped_marks(raw: str, clean: str) -> tuple[list[bool], list[bool]]:
    """Per character of `raw`: whether cleaning stripped it (not in `clean`), and whether it is
    the first character kept after a stripped run."""
    kept = [False] * len(raw)
    matcher = difflib.SequenceMatcher(None, raw, clean, autojunk=False)
    for start, _, size in matcher.get_matching_blocks():
        kept[start : start + size] = [True] * size
    after = [kept[i] and i > 0 and not kept[i - 1] for i in range(len(raw))]
    return [not k for k in kept], after


def stripped_kinds(raw: str, stripped: list[bool]) -> list[str]:
    """Per character of `raw`: what its stripped run is (fingerings, other quoted text,
    decorations, header lines or other text); "" where nothing is stripped."""
    kinds = [""] * len(raw)
    i = 0
    while i < len(raw):
        if not stripped[i]:
            i += 1
            continue
        end = i
        while end < len(raw) and stripped[end]:
            end += 1
        run = raw[i:end]
        if run.startswith('"'):
            kind = "fingerings" if run[1:2] in FINGERINGS else "other quoted text"
        elif run.startswith("!"):
            kind = "decorations"
        else:
            kind = "header lines" if "\n" in run and ":" in run else "other text"
        kinds[i:end] = [kind] * (end - i)
        i = end
    return kinds


def breakdown(held: HeldOut) -> list[str]:
    """Rows: where the bits of the held-out tunes as they are go (character models only)."""
    checkpoint, path = held.checkpoint, held.path
    if checkpoint.vocab.tokenizer != "chars":
        return []
    parts = {name: [0.0, 0] for name in PARTS}
    for text, clean in zip(held.raw, held.cleaned, strict=True):
        losses = char_losses(checkpoint, text)
        if clean is None:
            parts[PARTS[0]][0] += sum(losses)
            parts[PARTS[0]][1] += len(losses)
            continue
        stripped, after = stripped_marks(text, clean)
        kinds = stripped_kinds(text, stripped)
        for i, loss in enumerate(losses):  # the last loss is the end of tune's: kept
            name = (
                PARTS[1]
                if i < len(stripped) and stripped[i]
                else (PARTS[2] if i < len(after) and after[i] else PARTS[3])
            )
            parts[name][0] += loss
            parts[name][1] += 1
            if name == PARTS[1]:
                kind = parts.setdefault(f"... of which {kinds[i]}", [0.0, 0])
                kind[0] += loss
                kind[1] += 1
    total_nats = sum(parts[name][0] for name in PARTS)
    total_chars = sum(parts[name][1] for name in PARTS)
    rows = []
    kinds = sorted(name for name in parts if name not in PARTS)
    for name in (*PARTS[:2], *kinds, *PARTS[2:]):
        nats, chars = parts[name]
        bits = nats / math.log(2) / chars if chars else float("nan")
        rows.append(
            f"| {path.name} | {name} | {chars:,} | {chars / total_chars:.1%} | {bits:.3f} | "
            f"{nats / total_nats:.1%} |"
        )
    everything = total_nats / math.log(2) / total_chars
    rows.append(f"| {path.name} | all | {total_chars:,} | 100% | {everything:.3f} | 100% |")
    return rows


PARTS = (
    "tunes cleaning drops",
    "characters cleaning strips from the tunes it keeps",
    "the character after each stripped run",
    "the rest of the tunes it keeps",
)


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
    held = [HeldOut.read(path) for path in args.checkpoints]
    for one in held:
        lines += rows(one)
    lines += [
        "",
        "Where the bits of the tunes as they are go, tune by tune (character models):",
        "",
        "| checkpoint | part of the held-out tunes | characters | share of characters | "
        "bits/char | share of bits |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for one in held:
        lines += breakdown(one)
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
