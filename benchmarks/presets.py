"""Held-out bits per character after a fixed CPU budget per model shape: picks `default`.

    python benchmarks/presets.py --minutes 3 [--corpus oneills1850] [--only seed,wide]
    python benchmarks/presets.py --midi bach-chorales --epochs 8     # picks the `midi` preset

Prints a table (preset, parameters, chars/s, epochs, CPU seconds, val bits/char); asserts
nothing. With --midi the symbols are event words, so chars/s and bits/char are per word, and
--epochs (a fixed number of epochs, with the CPU time they took) suits a busy machine.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
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


# Shapes compared for the `midi` preset (event words of the chorales' melodies).
MIDI_CANDIDATES: dict[str, dict] = {
    "midi-1x256": {"preset": "midi"},
    "midi-1x512": {
        "preset": "midi",
        "model": {"embedding_size": 64, "hidden_size": 512, "num_layers": 1, "dropout": 0.0},
        "training": {"lr": 3e-3},
    },
    "midi-2x256": {
        "preset": "midi",
        "model": {"embedding_size": 64, "hidden_size": 256, "num_layers": 2, "dropout": 0.1},
        "training": {"lr": 3e-3},
    },
}


def measure(name: str, spec: dict, corpus: dict, budget: dict, root: Path) -> dict:
    base = spec.get("preset", "default")
    model, config = resolve_configs(
        base, spec.get("model", {}), {**spec.get("training", {}), **corpus, **budget}
    )
    cpu = time.process_time()
    result = train(model, config, root / name)
    cpu = time.process_time() - cpu
    with (root / name / "log.csv").open() as file:
        rows = list(csv.DictReader(file))
    params = parameter_count(build_model({"vocab_size": 90, **model}))
    speed = sum(float(r["chars_per_s"]) for r in rows) / max(len(rows), 1)
    return {
        "name": name,
        "params": params,
        "chars_per_s": speed,
        "epochs": len(rows),
        "cpu_s": cpu,
        "val_bpc": result.best_val_bpc,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--corpus", default="oneills1850")
    parser.add_argument("--midi", metavar="SOURCE", help="compare the MIDI shapes on this corpus")
    parser.add_argument("--epochs", type=int, help="a fixed number of epochs, not --minutes")
    parser.add_argument("--only", help="comma-separated candidate names")
    args = parser.parse_args()
    candidates = MIDI_CANDIDATES if args.midi else CANDIDATES
    names = args.only.split(",") if args.only else list(candidates)
    corpus = {"corpus": (args.midi or args.corpus,)}
    if args.midi:
        corpus.update(corpus_kind="midi", tokenizer="words")
    budget = (
        {"epochs": args.epochs} if args.epochs else {"max_minutes": args.minutes, "epochs": 1000}
    )
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(n, candidates[n], corpus, budget, Path(folder)) for n in names]
    limit = f"{args.epochs} epochs" if args.epochs else f"{args.minutes:g} CPU minutes"
    print(f"\n{limit} each on {args.midi or args.corpus}")
    print("| shape | parameters | symbols/s | epochs | CPU s | val bits/symbol |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: r["val_bpc"]):
        print(
            f"| {r['name']} | {r['params']:,} | {r['chars_per_s']:,.0f} | {r['epochs']} "
            f"| {r['cpu_s']:.0f} | {r['val_bpc']:.3f} |"
        )
    print(f"\ncurrent preset: {PRESETS['midi' if args.midi else 'default']['model']}")


if __name__ == "__main__":
    main()
