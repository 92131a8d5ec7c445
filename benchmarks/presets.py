"""Held-out bits per character after a fixed CPU budget per model shape: picks `default`.

    python benchmarks/presets.py --minutes 3 [--corpus oneills1850] [--only seed,wide]

Prints a table (preset, parameters, chars/s, epochs, val bits/char); asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from tunegen.models import PRESETS, build_model, parameter_count
from tunegen.training import resolve_configs, train

# Shapes compared for the `default` preset, besides the write-ups' own presets.
CANDIDATES: dict[str, dict] = {
    "seed": {"preset": "seed"},
    "mit": {"preset": "mit"},
    "1x256": {
        "model": {"embedding_size": 32, "hidden_size": 256, "num_layers": 1, "dropout": 0.0},
        "training": {"mode": "stateful", "batch_size": 64, "seq_len": 128, "lr": 5e-3},
    },
    "1x384": {
        "model": {"embedding_size": 48, "hidden_size": 384, "num_layers": 1, "dropout": 0.0},
        "training": {"mode": "stateful", "batch_size": 64, "seq_len": 128, "lr": 4e-3},
    },
    "2x256": {
        "model": {"embedding_size": 48, "hidden_size": 256, "num_layers": 2, "dropout": 0.1},
        "training": {"mode": "stateful", "batch_size": 64, "seq_len": 128, "lr": 4e-3},
    },
}


def measure(name: str, spec: dict, corpus: str, minutes: float, root: Path) -> dict:
    base = spec.get("preset", "default")
    model, config = resolve_configs(
        base,
        spec.get("model", {}),
        {**spec.get("training", {}), "corpus": (corpus,), "max_minutes": minutes, "epochs": 1000},
    )
    result = train(model, config, root / name)
    with (root / name / "log.csv").open() as file:
        rows = list(csv.DictReader(file))
    params = parameter_count(build_model({"vocab_size": 90, **model}))
    speed = sum(float(r["chars_per_s"]) for r in rows) / max(len(rows), 1)
    return {
        "name": name,
        "params": params,
        "chars_per_s": speed,
        "epochs": len(rows),
        "val_bpc": result.best_val_bpc,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--corpus", default="oneills1850")
    parser.add_argument("--only", help="comma-separated candidate names")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(CANDIDATES)
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(n, CANDIDATES[n], args.corpus, args.minutes, Path(folder)) for n in names]
    print(f"\n{args.minutes:g} CPU minutes each on {args.corpus}")
    print(f"{'shape':<14}{'params':>12}{'chars/s':>10}{'epochs':>8}{'val bits/char':>15}")
    for r in sorted(rows, key=lambda r: r["val_bpc"]):
        print(
            f"{r['name']:<14}{r['params']:>12,}{r['chars_per_s']:>10,.0f}{r['epochs']:>8}"
            f"{r['val_bpc']:>15.3f}"
        )
    print(f"\ncurrent default preset: {PRESETS['default']['model']}")


if __name__ == "__main__":
    main()
