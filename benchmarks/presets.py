"""Held-out bits per character after a fixed CPU budget per model shape: picks `default`.

    python benchmarks/presets.py --minutes 8 [--corpus oneills1850+ryansMammoth] [--only seed,1x512]
        [--out runs/presets]
    python benchmarks/presets.py --midi bach-chorales --epochs 8     # picks the `midi` preset

Prints a table (shape, symbols, parameters, chars/s, epochs, CPU seconds, val bits/char); asserts
nothing. Each model is scored as the budget left it, mid-epoch or not, on the held-out tunes. With
--out the run folders are kept, so the winner can go on with `tunegen train --resume`. With --midi
the symbols are event words, so chars/s and bits/char are per word, and --epochs (a fixed number
of epochs, with the CPU time they took) suits a busy machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tunegen.evaluation.likelihood import corpus_likelihood
from tunegen.models import PRESETS, parameter_count
from tunegen.models.checkpoint import load_checkpoint
from tunegen.training.config import resolve_configs
from tunegen.training.corpus import prepare_corpus
from tunegen.training.trainer import train

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
        "training": {**STREAMS, "lr": 4e-3},
    },
    "2x256": {
        "model": {"embedding_size": 48, "hidden_size": 256, "num_layers": 2, "dropout": 0.1},
        "training": {**STREAMS, "lr": 4e-3},
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
    cpu, wall = time.process_time(), time.perf_counter()
    train(model, config, root / name)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    # the model as the budget left it, mid-epoch or not, scored as it was validated in training
    trained = load_checkpoint(root / name / "last.ckpt")
    texts, _, _ = prepare_corpus(config, root / name, trained.vocab)
    held_out = corpus_likelihood(trained, texts["val"], config.batch_size, config.seq_len)
    info = trained.meta["corpus"]
    symbols_seen = trained.meta["global_step"] * config.batch_size * config.seq_len
    chars_seen = symbols_seen * info["train_chars"] / info["train_symbols"]
    seconds = budget["max_minutes"] * 60 if "max_minutes" in budget else wall
    return {
        "name": name,
        "symbols": trained.vocab.tokenizer,
        "params": parameter_count(trained.model),
        "chars_per_s": chars_seen / seconds,
        "epochs": symbols_seen / info["train_symbols"],
        "cpu_s": cpu,
        "val_bpc": held_out.bits_per_char,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--corpus", default="oneills1850")
    parser.add_argument("--midi", metavar="SOURCE", help="compare the MIDI shapes on this corpus")
    parser.add_argument("--epochs", type=int, help="a fixed number of epochs, not --minutes")
    parser.add_argument("--only", help="comma-separated candidate names")
    parser.add_argument("--out", type=Path, help="keep the run folders here")
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
        root = args.out or Path(folder)
        rows = [measure(n, candidates[n], corpus, budget, root) for n in names]
    limit = f"{args.epochs} epochs" if args.epochs else f"{args.minutes:g} CPU minutes"
    print(f"\n{limit} each on {args.midi or args.corpus}")
    print("| shape | symbols | parameters | chars/s | epochs | CPU s | val bits/char |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in sorted(rows, key=lambda r: r["val_bpc"]):
        print(
            f"| {r['name']} | {r['symbols']} | {r['params']:,} | {r['chars_per_s']:,.0f} "
            f"| {r['epochs']:.1f} | {r['cpu_s']:.0f} | {r['val_bpc']:.3f} |"
        )
    print(f"\ncurrent preset: {PRESETS['midi' if args.midi else 'default']['model']}")


if __name__ == "__main__":
    main()
