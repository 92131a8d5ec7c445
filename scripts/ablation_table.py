"""The ablation table of scripts/bundle_model.sh: one row per run, from its log.csv and checkpoint.

    python scripts/ablation_table.py runs/ablation            # a Markdown table
    python scripts/ablation_table.py runs/ablation --winner   # the best run's name

"val bits/char" scores today's held-out tunes as they are (comparable with the 1.757 of the
model bundled before issue 14); "cleaned" scores the same tunes after cleaning.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import Counter
from pathlib import Path

from tunegen.models.checkpoint import read_checkpoint_file


def figure(value: float) -> str:
    """Bits/char to 3 places; '-' where the run did not measure it."""
    return "-" if math.isnan(value) else f"{value:.3f}"


def best(rows: list[dict], column: str) -> float:
    values = [float(r[column]) for r in rows if r.get(column)]
    return min(values) if values else math.nan


def run_row(folder: Path) -> dict | None:
    """The row of one run, or None if it has not logged an epoch yet."""
    log = folder / "log.csv"
    if not log.exists():
        return None
    with log.open(newline="") as file:
        rows = list(csv.DictReader(file))
    if not rows:
        return None
    meta = read_checkpoint_file(folder / "last.ckpt")["tunegen"]
    training, model = meta["training"], meta["model"]
    seconds = (
        sum(float(x) for x in (folder / "seconds").read_text().split())
        if (folder / "seconds").exists()
        else math.nan
    )
    return {
        "run": folder.name,
        "corpus": "+".join(training["corpus"]),
        "shape": f"{model.get('num_layers', '?')} x {model.get('hidden_size', '?')}",
        "dropout": model.get("dropout", "?"),
        "symbols": training["tokenizer"],
        # how the text was batched: stateful streams, whole tunes from a fresh state, windows
        "batches": f"{training.get('mode', 'stateful')} x {training.get('seq_len', '?')}",
        "cleaned": "no" if training.get("keep_unclean") else "yes",
        "keys": ",".join(training.get("transpose") or [])
        or ("all" if training.get("transpose_all") else "-"),
        "train tunes": meta["corpus"]["train_tunes"],
        "epochs": len(rows),
        "minutes": seconds / 60,
        "val": best(rows, "val_bpc"),
        "val clean": best(rows, "val_clean_bpc"),
        "lr": training["lr"],
        # a run that starts from another's weights (train --init): that run's folder name
        "from": Path(meta.get("finetuned_from", {}).get("path", "-")).parent.name or "-",
        "done": (folder / "DONE").exists(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--winner", action="store_true", help="print the best finished run")
    args = parser.parse_args()
    rows = [row for f in sorted(args.folder.iterdir()) if f.is_dir() if (row := run_row(f))]
    if args.winner:
        # runs on the main corpus only: a pre-training run's bits/char are on other tunes
        corpus = Counter(r["corpus"] for r in rows).most_common(1)[0][0]
        finished = [r for r in rows if r["done"] and r["corpus"] == corpus]
        finished = [r for r in finished if not math.isnan(r["val"])]
        print(min(finished, key=lambda r: r["val"])["run"])
        return
    print(
        "| run | corpus | shape | dropout | symbols | batches | cleaned | extra keys | lr | from "
        "| train tunes | epochs | minutes | val bits/char | cleaned val bits/char |"
    )
    print("|---|---|---|---:|---|---|---|---|---:|---|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: r["val"]):
        state = "" if r["done"] else " (running)"
        print(
            f"| {r['run']}{state} | {r['corpus']} | {r['shape']} | {r['dropout']} | "
            f"{r['symbols']} | {r['batches']} | {r['cleaned']} | {r['keys']} | {r['lr']:g} | "
            f"{r['from']} | "
            f"{r['train tunes']:,} | "
            f"{r['epochs']} | {r['minutes']:.0f} | {figure(r['val'])} | {figure(r['val clean'])} |"
        )


if __name__ == "__main__":
    main()
