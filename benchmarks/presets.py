"""Held-out bits per character after a fixed CPU budget per model shape: picks `default`.

    python benchmarks/presets.py --minutes 8 [--corpus oneills1850+ryansMammoth] [--only seed,1x512]
        [--out runs/presets]

Prints a table (shape, symbols, parameters, chars/s, epochs, val bits/char); asserts nothing.
With --out the run folders are kept, so the winner can go on with `tunegen train --resume`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tunegen.checkpoint import load_checkpoint
from tunegen.likelihood import corpus_likelihood
from tunegen.models import PRESETS, parameter_count
from tunegen.training import prepare_corpus, resolve_configs, train

DEFAULT_SHAPE = {"embedding_size": 32, "hidden_size": 256, "num_layers": 1, "dropout": 0.0}
STREAMS = {"mode": "stateful", "batch_size": 64, "seq_len": 128, "lr": 5e-3}

# Shapes compared for the `default` preset, besides the write-ups' own presets.
CANDIDATES: dict[str, dict] = {
    "seed": {"preset": "seed"},
    "mit": {"preset": "mit"},
    "1x256": {"model": DEFAULT_SHAPE, "training": STREAMS},
    # folk-rnn-style tokens (notes, durations, bar lines) instead of characters, same model
    "1x256-abc": {"model": DEFAULT_SHAPE, "training": {**STREAMS, "tokenizer": "abc"}},
    "1x512": {
        "model": {"embedding_size": 64, "hidden_size": 512, "num_layers": 1, "dropout": 0.0},
        "training": {**STREAMS, "lr": 3e-3},
    },
    "transformer": {"preset": "transformer"},
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
    train(model, config, root / name)
    # the model as the budget left it, mid-epoch or not, scored as it was validated in training
    trained = load_checkpoint(root / name / "last.ckpt")
    texts, _, _ = prepare_corpus(config, root / name, trained.vocab)
    held_out = corpus_likelihood(trained, texts["val"], config.batch_size, config.seq_len)
    info = trained.meta["corpus"]
    symbols_seen = trained.meta["global_step"] * config.batch_size * config.seq_len
    chars_seen = symbols_seen * info["train_chars"] / info["train_symbols"]
    return {
        "name": name,
        "symbols": trained.vocab.tokenizer,
        "params": parameter_count(trained.model),
        "chars_per_s": chars_seen / (minutes * 60),
        "epochs": symbols_seen / info["train_symbols"],
        "val_bpc": held_out.bits_per_char,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--corpus", default="oneills1850")
    parser.add_argument("--only", help="comma-separated candidate names")
    parser.add_argument("--out", type=Path, help="keep the run folders here")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(CANDIDATES)
    with tempfile.TemporaryDirectory() as folder:
        root = args.out or Path(folder)
        rows = [measure(n, CANDIDATES[n], args.corpus, args.minutes, root) for n in names]
    print(f"\n{args.minutes:g} CPU minutes each on {args.corpus}")
    header = f"{'shape':<14}{'symbols':>8}{'params':>12}{'chars/s':>10}{'epochs':>8}"
    print(f"{header}{'val bits/char':>15}")
    for r in sorted(rows, key=lambda r: r["val_bpc"]):
        print(
            f"{r['name']:<14}{r['symbols']:>8}{r['params']:>12,}{r['chars_per_s']:>10,.0f}"
            f"{r['epochs']:>8.1f}{r['val_bpc']:>15.3f}"
        )
    print(f"\ncurrent default preset: {PRESETS['default']['model']}")


if __name__ == "__main__":
    main()
