"""`tunegen evaluate`: score generated tunes against a corpus, or a checkpoint on held-out tunes."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunegen.errors import UsageError


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="score generated tunes against a corpus (validity, metre, novelty, style)",
        description="Evaluate generated ABC tunes (or a folder of .mid files) against a corpus.",
    )
    parser.add_argument("checkpoint", nargs="?", type=Path, help="a model checkpoint to score")
    parser.add_argument(
        "--corpus",
        nargs="+",
        help="with a CHECKPOINT: ABC sources to score (default: the checkpoint's held-out tunes)",
    )
    parser.add_argument("--tunes", help="generated tunes: .abc file, folder or glob, or .mid files")
    parser.add_argument("--against", help="corpus: bundled name, file, folder or glob; join with +")
    parser.add_argument("--out", type=Path, help="report folder (default: TUNES-eval next to it)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing report")
    parser.add_argument(
        "--no-validity", action="store_true", help="skip the (slow) music21 and verovio parse"
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="worker processes for the validity pass (default 2)"
    )
    parser.set_defaults(handler=run_evaluate)


TUNE_SUFFIXES = (".abc", ".mid", ".midi")  # what --tunes reads, given as the checkpoint


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint, or generated tunes against a corpus, and write the report."""
    if args.checkpoint is None and args.tunes is None:
        raise UsageError("evaluate needs a CHECKPOINT or --tunes FILE")
    if args.checkpoint is not None and args.checkpoint.suffix.lower() in TUNE_SUFFIXES:
        raise UsageError(
            f"{args.checkpoint}: tunes, not a model checkpoint; to score generated tunes: "
            f"tunegen evaluate --tunes {args.checkpoint} --against CORPUS (a bundled corpus "
            "such as oneills1850, or an ABC file or folder)"
        )
    if args.checkpoint is not None:
        return run_evaluate_checkpoint(args)
    if args.against is None:
        raise UsageError("--tunes needs --against CORPUS to compare with")
    if not 1 <= args.jobs <= 256:
        raise UsageError(f"--jobs must be in [1, 256], got {args.jobs}")
    from tunegen.evaluation.evaluate import (
        evaluate,
        load_generated,
    )  # local: pulls in numpy and music21
    from tunegen.evaluation.report import headline, write_report
    from tunegen.music.abc import read_corpus

    generated = load_generated(args.tunes)
    corpus = read_corpus([args.against])
    report = evaluate(generated, corpus, validity=not args.no_validity, jobs=args.jobs)
    tunes = Path(args.tunes.rstrip("/"))
    folder = args.out or tunes.with_name(f"{tunes.stem}-eval")
    write_report(report, folder, force=args.force)
    print("\n".join(headline(report)))
    print(f"report: {folder / 'report.md'}")
    return 0


def run_evaluate_checkpoint(args: argparse.Namespace) -> int:
    """Held-out loss, bits per character and perplexity of a checkpoint on a corpus."""
    from tunegen.data.splits import held_out_tunes
    from tunegen.evaluation.likelihood import corpus_likelihood
    from tunegen.models.checkpoint import load_checkpoint
    from tunegen.music.abc import read_corpus

    checkpoint = load_checkpoint(args.checkpoint)
    training = checkpoint.meta["training"]
    if checkpoint.kind == "midi":
        raise UsageError(f"{args.checkpoint}: a MIDI model; evaluate scores ABC models")
    if args.corpus:
        tunes, what = read_corpus(args.corpus).tunes, "+".join(args.corpus)
    else:
        tunes = held_out_tunes(training)
        what = f"the held-out tunes of {'+'.join(training['corpus'])}"
    texts = [tune.text for tune in tunes]
    result = corpus_likelihood(checkpoint, texts, seq_len=training["seq_len"])
    print(f"{args.checkpoint} on {what}: {result.tunes} tunes, {result.chars:,} characters")
    if result.skipped:
        print(f"skipped {result.skipped} tunes with characters the model never saw")
    print(f"loss {result.loss:.4f} nats/char, {result.bits_per_char:.4f} bits/char, "
          f"perplexity {result.perplexity:.3f}")  # fmt: skip
    return 0
