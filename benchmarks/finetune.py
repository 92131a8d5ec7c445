"""Fine-tuning the bundled model on a collection it never saw, against training from scratch.

    OMP_NUM_THREADS=1 python benchmarks/finetune.py --threads 1 [--corpus PATH] [--minutes 5]
        [--sweep 5e-3,2e-3,1e-3,5e-4 --sweep-minutes 1] [--out /work/runs/finetune/bench]

Default corpus: music21's miscFolk (American fife tunes and Northumbrian minstrelsy, 181 tunes
after duplicates). Parts, each optional:
- sweep: fine-tune with each learning rate for --sweep-minutes (picks finetune.FINETUNE_LR_SCALE);
- compare: fine-tune (the default learning rate) and train the same shape from scratch (the
  preset's learning rate, a vocabulary of the new tunes) for --minutes each; held-out bits/char at
  each minute mark (the best epoch so far, i.e. what best.ckpt holds), and the bundled model's
  figure on the same held-out tunes before the first step;
- style: --tunes tunes from the bundled model, the fine-tuned and the scratch model at --keep-at
  minutes, each scored by `evaluate`'s style overlap with the whole new collection.

Minutes are CPU minutes of this process (with one thread, the wall time of a quiet core): on a
shared machine they are steadier than wall-clock minutes. Prints tables and appends them, with the
command and the machine load, to benchmarks/RESULTS.md. Asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from tunegen.evaluation.evaluate import evaluate, load_generated
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.music.abc import read_corpus
from tunegen.sampling.sampler import SamplingOptions, compose, with_model_defaults
from tunegen.training.config import resolve_configs
from tunegen.training.finetune import finetune_configs, read_initial_model
from tunegen.training.trainer import train

RESULTS = Path(__file__).parent / "RESULTS.md"
STYLE_NAMES = ("pitch_classes", "intervals", "pitch_range", "note_density", "key", "meter")


class CpuClock(Callback):
    """Held-out bits/char after every epoch against this process' CPU minutes since training
    began; stops at `limit` minutes and keeps best.ckpt as it stood at `keep_at` minutes."""

    def __init__(self, run_dir: Path, limit: float, keep_at: float) -> None:
        self.run_dir, self.limit, self.keep_at = run_dir, limit, keep_at
        self.points: list[tuple[float, float]] = []  # (CPU minutes, val bits/char)
        self.start = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.process_time()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        minutes = (time.process_time() - self.start) / 60
        if "val_bpc" in trainer.callback_metrics:
            self.points.append((minutes, float(trainer.callback_metrics["val_bpc"])))
        kept = self.run_dir / f"best-{self.keep_at:g}min.ckpt"
        if (minutes <= self.keep_at or not kept.exists()) and (
            self.run_dir / "best.ckpt"
        ).is_file():
            shutil.copy(self.run_dir / "best.ckpt", kept)
        if minutes >= self.limit:
            trainer.should_stop = True

    def best_by(self, minute: float) -> float | None:
        """The best held-out figure of the epochs that ended by `minute`."""
        seen = [bpc for at, bpc in self.points if at <= minute]
        return min(seen) if seen else None


def run(
    name: str, root: Path, corpus: str, val_fraction: float, minutes: float, keep_at: float,
    lr: float | None = None, scratch: bool = False,
) -> dict:  # fmt: skip
    """One fine-tuning (or from-scratch) run of `minutes` CPU minutes; its clock and lineage."""
    run_dir = root / name
    shutil.rmtree(run_dir, ignore_errors=True)
    clock = CpuClock(run_dir, minutes, keep_at)
    # the Trainer's own wall-clock limit only guards against a stall; the clock stops the run
    budget = {"corpus": (corpus,), "val_fraction": val_fraction, "epochs": 100_000,
              "max_minutes": minutes * 4}  # fmt: skip
    if lr is not None:
        budget["lr"] = lr
    init = read_initial_model("bundled")
    if scratch:
        shape = {k: v for k, v in init.meta["model"].items() if k != "vocab_size"}
        model, config = resolve_configs(init.meta["training"]["preset"], shape, budget)
        result = train(model, config, run_dir, callbacks=[clock])
    else:
        model, config = finetune_configs(init, {}, budget)
        result = train(model, config, run_dir, init=init, callbacks=[clock])
    return {"name": name, "clock": clock, "result": result, "lr": config.lr, "dir": run_dir}


def style_of(checkpoint_path: Path, corpus, tunes: int, out: Path) -> dict[str, float]:
    """Style overlaps (evaluate's) of `tunes` sampled tunes with the whole collection."""
    checkpoint = load_checkpoint(checkpoint_path)
    options = with_model_defaults(SamplingOptions(temperature=None, seed=0), checkpoint.meta)
    composition = compose(checkpoint.model, checkpoint.vocab, tunes, options)
    out.write_text(composition.tunebook, encoding="utf-8")
    report = evaluate(load_generated(str(out)), corpus, validity=False)
    found = {
        name: report["style"][name]["overlap"] for name in STYLE_NAMES if name in report["style"]
    }
    found["mean"] = sum(found.values()) / len(found)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="ABC file or folder (default: music21's miscFolk)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--sweep", default="5e-3,2e-3,1e-3,5e-4", help="'' to skip the sweep")
    parser.add_argument("--sweep-minutes", type=float, default=1.0)
    parser.add_argument("--minutes", type=float, default=5.0, help="0 to skip the comparison")
    parser.add_argument("--marks", default="1,2,3,5")
    parser.add_argument("--keep-at", type=float, default=3.0)
    parser.add_argument("--tunes", type=int, default=100, help="sampled per model for style")
    parser.add_argument("--out", type=Path, help="keep the run folders here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.corpus is None:
        import music21

        args.corpus = str(Path(music21.__file__).parent / "corpus" / "miscFolk")
    load_before = os.getloadavg()
    lines = [f"{args.threads} torch thread(s); load average before: "
             f"{' '.join(f'{x:.2f}' for x in load_before)}"]  # fmt: skip
    root = args.out or Path(tempfile.mkdtemp(prefix="finetune-bench-"))
    corpus = read_corpus([args.corpus])
    shown = "music21's miscFolk" if args.corpus.endswith("corpus/miscFolk") else args.corpus
    lines.append(f"corpus: {shown}: {corpus.report.summary()}; "
                 f"held out by hash: {args.val_fraction:.0%}")  # fmt: skip

    if args.sweep:
        lines += ["", f"Learning rate, fine-tuning for {args.sweep_minutes:g} CPU minutes:", ""]
        lines += [
            "| lr | epochs | best val bits/char | last val bits/char |",
            "|---:|---:|---:|---:|",
        ]
        start_bpc = None
        for lr in (float(v) for v in args.sweep.split(",")):
            done = run(f"sweep-{lr:g}", root, args.corpus, args.val_fraction,
                       args.sweep_minutes, args.sweep_minutes, lr=lr)  # fmt: skip
            clock, result = done["clock"], done["result"]
            start_bpc = result.finetuned_from["initial_val_bpc"]
            lines.append(f"| {lr:g} | {result.epochs} | {clock.best_by(1e9):.3f} "
                         f"| {clock.points[-1][1]:.3f} |")  # fmt: skip
            print(lines[-1], flush=True)
        lines.append(f"\n(the bundled model before the first step: {start_bpc:.3f})")

    if args.minutes:
        marks = [float(m) for m in args.marks.split(",") if float(m) <= args.minutes]
        tuned = run("finetuned", root, args.corpus, args.val_fraction, args.minutes, args.keep_at)
        scratch = run("scratch", root, args.corpus, args.val_fraction, args.minutes,
                      args.keep_at, scratch=True)  # fmt: skip
        start_bpc = tuned["result"].finetuned_from["initial_val_bpc"]
        head = " | ".join(f"{m:g} min" for m in marks)
        lines += ["", f"Held-out bits/char by CPU minute (best epoch so far); the bundled model "
                  f"before the first step: {start_bpc:.3f}", ""]  # fmt: skip
        lines += [f"| run | lr | {head} | epochs |", "|---|---:|" + "---:|" * (len(marks) + 1)]
        for done in (tuned, scratch):
            clock = done["clock"]
            figures = " | ".join(
                "-" if clock.best_by(m) is None else f"{clock.best_by(m):.3f}" for m in marks
            )
            what = "fine-tuned bundled" if done is tuned else "same shape from scratch"
            lines.append(f"| {what} | {done['lr']:g} | {figures} | {done['result'].epochs} |")
        at = tuned["clock"].best_by(args.keep_at) or start_bpc
        vs = scratch["clock"].best_by(args.keep_at) or float("nan")
        lines.append(f"\nAt {args.keep_at:g} minutes: fine-tuned {at:.3f}, "
                     f"{1 - at / start_bpc:.1%} below the bundled model's {start_bpc:.3f}; "
                     f"from scratch {vs:.3f}")  # fmt: skip

        if args.tunes:
            keep = f"best-{args.keep_at:g}min.ckpt"
            models = {"bundled": BUNDLED_MODEL, "fine-tuned": tuned["dir"] / keep,
                      "from scratch": scratch["dir"] / keep}  # fmt: skip
            lines += ["", f"Style overlap with the collection, {args.tunes} tunes each (seed 0, "
                      f"the model's default temperature; models at {args.keep_at:g} minutes):",
                      "", "| model | " + " | ".join(STYLE_NAMES) + " | mean |",
                      "|---|" + "---:|" * (len(STYLE_NAMES) + 1)]  # fmt: skip
            for name, path in models.items():
                found = style_of(path, corpus, args.tunes, root / f"{name.replace(' ', '-')}.abc")
                cells = " | ".join(f"{found[n]:.3f}" if n in found else "-" for n in STYLE_NAMES)
                lines.append(f"| {name} | {cells} | {found['mean']:.3f} |")
                print(lines[-1], flush=True)

    load_after = os.getloadavg()
    lines.append(f"\nload average after: {' '.join(f'{x:.2f}' for x in load_after)}")
    table = "\n".join(lines)
    print("\n" + table)
    command = "python benchmarks/finetune.py " + shlex.join(sys.argv[1:])
    with RESULTS.open("a", encoding="utf-8") as file:
        file.write(f"\n## Fine-tuning the bundled model (`finetune.py`, issue 15)\n\n"
                   f"```bash\nOMP_NUM_THREADS={args.threads} {command}\n```\n\n"
                   f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores.\n\n"
                   f"{table}\n")  # fmt: skip


if __name__ == "__main__":
    main()
