"""Training and sampling speed on O'Neill's tunes, against the seed's Keras char-RNN in one run.

    python benchmarks/speed.py [--train-minutes 1] [--keras-python /path/to/venv/bin/python]

Rows: training chars/s for the `seed` and `default` presets (Lightning, the real `tunegen train`
path), sampling chars/s at batch 1 and 64, the Keras peer (../shared/peers/seed000_keras.py, run
with a Python that has tensorflow-cpu) and seconds to render 100 tunes. Prints a table; asserts
nothing. Targets (2 cores): seed sampling >= 5,000 chars/s at batch 1 and >= 20,000 at batch 64;
seed training >= 4x the Keras peer; 100 tunes rendered in under 30 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from tunegen.data.vocab import Vocabulary
from tunegen.models import PRESETS, build_model
from tunegen.music.abc import read_corpus, split_train_val
from tunegen.sampling.sampler import SamplingOptions, sample_tunes, sampling_threads
from tunegen.training.config import resolve_configs
from tunegen.training.trainer import train

sys.path.insert(0, str(Path(__file__).parent))
from render_speed import seconds as render_seconds

PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "seed000_keras.py"
CORPUS = "oneills1850"


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
    parser.add_argument("--render-tunes", type=int, default=100)
    args = parser.parse_args()
    vocab = Vocabulary.from_texts(t.text for t in read_corpus([CORPUS]).tunes)
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        peer = (
            keras_peer(args.keras_python, args.train_minutes, root) if args.keras_python else None
        )
        for preset in ("seed", "default"):
            speed = training_speed(preset, args.train_minutes, root)
            ratio = f" ({speed / peer['train_chars_per_s']:.1f}x Keras)" if peer else ""
            rows.append((f"train chars/s, {preset}", f"{speed:,.0f}{ratio}"))
    for preset in ("seed", "default"):
        for batch, chars in ((1, 3000), (64, 600)):
            speed = sampling_speed(preset, vocab, batch, chars)
            rows.append((f"sample chars/s, {preset}, batch {batch}", f"{speed:,.0f}"))
    if peer:
        rows.append(("Keras peer train chars/s", f"{peer['train_chars_per_s']:,.0f}"))
        rows.append(("Keras peer sample chars/s, batch 1", f"{peer['sample_chars_per_s']:,.0f}"))
        rows.append((f"Keras peer val bits/char after {args.train_minutes:g} min",
                     f"{peer['valid_bpc']:.3f}"))  # fmt: skip
    tunes = read_corpus(["ryansMammoth"], keep_metadata=True).tunes[: args.render_tunes]
    elapsed, rendered = render_seconds(tunes, ("midi", "wav", "svg"))
    rows.append((f"render {len(tunes)} tunes to midi,wav,svg (builtin synth), s",
                 f"{elapsed:.1f} ({rendered} rendered)"))  # fmt: skip
    print(f"\n| measurement ({torch.get_num_threads()} threads) | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
