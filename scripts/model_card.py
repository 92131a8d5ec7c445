"""Write MODEL_CARD.md for the bundled model from its checkpoint and its evaluation report.

    python scripts/model_card.py --run runs/bundled --seconds 3000 > MODEL_CARD.md

Called by scripts/bundle_model.sh; every number in the card comes from a file it names.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from tunegen.data.batches import TuneTexts
from tunegen.models import parameter_count
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.music.abc import tunebook_from_texts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from abc2midi_check import score


def percent(value: float | None) -> str:
    return "not measured" if value is None else f"{100 * value:.1f}%"


def card_config(meta: dict) -> dict:
    """The part of the checkpoint the card states exactly (tests compare the two)."""
    training = meta["training"]
    recipe = ("preset", "tokenizer", "mode", "batch_size", "seq_len", "lr", "seed", "corpus")
    return {"model": meta["model"], "training": {key: training[key] for key in recipe}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--seconds", type=float, required=True, help="wall time of the training")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    checkpoint = load_checkpoint(BUNDLED_MODEL)
    meta = checkpoint.meta
    report = json.loads((args.run / "sample200-eval" / "report.json").read_text())
    corpus = meta["corpus"]
    sample = args.run / "sample200.abc"
    size_mb = BUNDLED_MODEL.stat().st_size / 1e6
    lines = [
        "# tunegen bundled model: `folk.ckpt`",
        "",
        "A character-level model of Irish and Scottish folk tunes in ABC notation. "
        "`tunegen generate` uses it when no checkpoint is given.",
        "",
        "## Data",
        f"- {corpus['description']}: {corpus['report']}",
        f"- training: {corpus['train_tunes']:,} tunes ({corpus['train_chars']:,} characters); "
        f"held out (SHA-1 split): {corpus['val_tunes']:,} tunes ({corpus['val_chars']:,} chars)",
        "- metadata fields (transcribers, sources, notes) removed before training",
        "",
        "## Recipe",
        "- command: `bash scripts/bundle_model.sh` (train, export, sample, evaluate, this card)",
        f"- model: {meta['model']['kind']}, {parameter_count(checkpoint.model):,} parameters, "
        f"{len(checkpoint.vocab)} symbols ({checkpoint.vocab.tokenizer}); weights stored as "
        f"{meta['weights_dtype'].removeprefix('torch.')} ({size_mb:.2f} MB)",
        f"- training: {args.seconds / 60:.1f} minutes on {args.threads} CPU thread(s) "
        f"(AMD EPYC), {meta['epochs']} epochs, {meta['global_step']:,} steps; "
        "the checkpoint with the best held-out bits per character is the one shipped",
        "",
        "```json",
        json.dumps(card_config(meta), indent=2),
        "```",
        "",
        "## Results",
        f"- held-out bits per character: **{meta['best_val_bpc']:.3f}**",
        f"- default sampling temperature: {meta['sampling']['temperature']} (set at export; "
        "`--temperature` overrides it)",
        "- 200 tunes from `tunegen generate --num-tunes 200 --seed 0` at that temperature, "
        "scored by `tunegen evaluate --against` the training corpora:",
    ]
    validity, metre, novelty = report["validity"], report["metre"], report["novelty"]
    lines += [
        f"  - valid (music21 and verovio read them): {percent(validity['valid'])}",
        f"  - every bar the right length: {percent(metre['tunes']['every_bar_right'])} "
        f"(the corpora: {percent(metre['corpus']['every_bar_right'])})",
        f"  - copies of a training tune: {percent(novelty['tunes']['copy_rate'])}; median "
        f"longest run shared with a training tune: {percent(novelty['tunes']['median_share'])}"
        f" of the tune (training tunes against each other: "
        f"{percent(novelty['corpus']['median_share'])})",
    ]
    if shutil.which("abc2midi"):
        count, no_error, bars = score(sample, 1000)
        held_out = args.run / "heldout.abc"
        held_out.write_text(tunebook_from_texts(list(TuneTexts(args.run / "corpus-val.txt"))))
        _, corpus_no_error, corpus_bars = score(held_out, 1000)
        lines.append(
            f"  - abc2midi (the reference converter): {percent(no_error)} convert without an "
            f"error, {percent(bars)} with every bar the right length ({count} tunes); the "
            f"held-out tunes of the corpora themselves: {percent(corpus_no_error)} and "
            f"{percent(corpus_bars)}"
        )
    lines += [
        "",
        "## Limits",
        "- It writes in the styles of its three collections (reels, jigs, hornpipes, airs); "
        "`--meter` and `--key` steer it within them.",
        "- Some samples are not playable ABC, have bars of the wrong length, or stay close to "
        "a training tune; `tunegen generate --keep valid,metre,novel` keeps sampling until "
        "every tune passes the checks chosen.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
