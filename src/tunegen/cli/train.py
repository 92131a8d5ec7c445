"""`tunegen train`: its options, and how a run ended; the run itself is planned by
tunegen.training.plan and trained by tunegen.training.trainer."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunegen.runtime.threads import add_threads_option

# Settings whose flag is not the setting's name with dashes (the rest: --max-minutes...).
FLAGS = {
    "corpus": "--abc/--midi",
    "corpus_kind": "--abc/--midi",
    "num_layers": "--layers",
    "num_heads": "--heads",
    "max_symbols": "--max-chars",  # generate's; --max-symbols is its other spelling
}


def flag(setting: str) -> str:
    """The command-line flag of a library setting (a TrainConfig field, a model-shape key)."""
    return FLAGS.get(setting, "--" + setting.replace("_", "-"))


def add_train(commands) -> None:
    p = commands.add_parser("train", help="train a model on ABC tunes or MIDI pieces")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--abc",
        nargs="+",
        metavar="SOURCE",
        help="ABC files, folders, globs or bundled corpora (oneills1850, ryansMammoth, "
        "airdsAirs, essenFolksong; join with +); default: oneills1850",
    )
    source.add_argument(
        "--midi",
        nargs="+",
        metavar="SOURCE",
        help="MIDI files, folders, globs, or bach-chorales (music21's, bundled)",
    )
    p.add_argument(
        "--preset",
        help="seed, mit, default or transformer for ABC (default: default); midi or seed003 "
        "for MIDI (default: midi); see README",
    )
    p.add_argument("--out", type=Path, help="run folder (default: runs/<corpus>-<preset>)")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="CKPT_OR_RUN",
        help="continue a run from a checkpoint or a run folder's last.ckpt",
    )
    p.add_argument("--force", action="store_true", help="start over in a folder with checkpoints")
    p.add_argument(
        "--init",
        metavar="bundled|CKPT",
        help="fine-tune: a new run that starts from this model's weights and vocabulary "
        "(bundled: the model shipped with tunegen); preset, shape and tokenizer are its own",
    )
    model = p.add_argument_group("model shape (overrides the preset)")
    model.add_argument("--embedding-size", type=int)
    model.add_argument("--hidden-size", type=int)
    model.add_argument("--layers", type=int, dest="num_layers")
    model.add_argument("--dropout", type=float)
    model.add_argument("--d-model", type=int, help="Transformer width")
    model.add_argument("--heads", type=int, dest="num_heads", help="Transformer attention heads")
    model.add_argument("--context", type=int, help="Transformer memory, in symbols")
    run = p.add_argument_group("training (overrides the preset)")
    run.add_argument(
        "--tokenizer",
        choices=["chars", "abc"],
        help="symbols: single characters, or folk-rnn-style ABC tokens (notes, bar lines, ...)",
    )
    run.add_argument(
        "--mode",
        choices=["stateful", "tunes", "windows"],
        help="stateful streams (truncated BPTT; the presets'), the same streams by whole tunes, "
        "each from a fresh state as generate starts it (LSTM), or random windows",
    )
    run.add_argument("--batch-size", type=int)
    run.add_argument("--seq-len", type=int)
    run.add_argument("--lr", type=float)
    run.add_argument("--grad-clip", type=float)
    run.add_argument("--epochs", type=int)
    run.add_argument("--max-minutes", type=float, help="stop after this much training time")
    run.add_argument("--val-fraction", type=float)
    run.add_argument("--checkpoint-every", type=int, help="also keep a checkpoint every N epochs")
    run.add_argument("--seed", type=int)
    run.add_argument(
        "--keep-metadata",
        action="store_true",
        default=None,
        help="keep Z:, N:, B:, S:, ... fields and %% comments in the training text",
    )
    run.add_argument(
        "--keep-unclean",
        action="store_true",
        default=None,
        help="ABC: train on the tunes as they are; by default tunes with wrong bars or repeats "
        "(as abc2midi judges them) are repaired where sure or dropped, and what abc2midi rejects "
        "is stripped",
    )
    run.add_argument(
        "--transpose",
        metavar="KEYS",
        type=lambda text: tuple(text.split(",")),
        help="ABC: also learn each training tune in these keys, e.g. D,G,A,E,Bm (a bare tonic "
        "keeps the tune's mode; Bm or Ador only for tunes in that mode); validation tunes stay",
    )
    run.add_argument("--accelerator", help="cpu, gpu or auto (Lightning)")
    run.add_argument("--devices", help="devices per node, or auto; more than one runs DDP")
    run.add_argument("--num-nodes", type=int, help="machines taking part (torchrun, SLURM)")
    run.add_argument("--precision", help="32, 32-true, bf16-mixed or 16-mixed")
    add_threads_option(run)
    midi = p.add_argument_group("MIDI (with --midi)")
    midi.add_argument(
        "--parts",
        help="melody (the highest part, top voice; default), all (every part merged) or a part "
        "name such as Bass; drum parts are always left out",
    )
    midi.add_argument("--grid", type=int, help="steps per quarter note (default 4)")
    midi.add_argument(
        "--codec",
        choices=["events", "seed003"],
        help="event words: events (waits, pitches, durations; default) or seed003 (the "
        "write-up's note names and chords, every note half a beat)",
    )
    run.add_argument(
        "--transpose-all",
        action="store_true",
        default=None,
        help="also learn the training tunes or pieces in all 12 keys",
    )
    p.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Plan the run from the options (new, resumed or fine-tuned), train it, say how it ended."""
    from tunegen.training.plan import plan_run
    from tunegen.training.trainer import train

    plan = plan_run(vars(args))
    for setting, change in plan.notes:
        print(f"resuming with {flag(setting)}{change}")
    result = train(plan.model_config, plan.config, plan.run_dir, plan.resume, init=plan.init)
    return report_training(result)


def report_training(result) -> int:
    """Print how a training run ended and where its files are; the exit code."""
    if result.global_rank != 0:  # under DDP every process runs this; one reports
        return 0
    run_dir = result.run_dir
    state = "interrupted" if result.interrupted else "finished"
    print(f"{state} after {result.epochs} epochs; best val bits/char {result.best_val_bpc:.3f}")
    lineage = result.finetuned_from
    if lineage is not None:  # a fine-tuning run: read the result against where it started
        start, best = lineage["initial_val_bpc"], result.best_val_bpc
        change = f"{abs(1 - best / start):.1%} {'lower' if best <= start else 'higher'}"
        print(f"  the initial model ({lineage['name']}) on the same tunes: {start:.3f} ({change})")
        added = " ".join(repr(symbol) for symbol in lineage["new_symbols"]) or "none"
        print(f"  symbols added to the vocabulary: {added}")
    print(f"checkpoints: {run_dir}/best.ckpt, {run_dir}/last.ckpt")
    print(f"log: {run_dir}/log.csv, plot: {run_dir}/curves.png")
    return 130 if result.interrupted else 0
