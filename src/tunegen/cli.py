"""The `tunegen` command line: a thin layer that parses options and calls library functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tunegen import __version__
from tunegen.errors import CorpusError, TunegenError, UsageError
from tunegen.runtime.fileio import refuse_overwrite, write_new_file
from tunegen.runtime.threads import add_threads_option, prepare_environment

if TYPE_CHECKING:  # the library modules import numpy and music21: slow for `tunegen --help`
    from tunegen.render.tunebook import RenderOptions


# ----------------------------------------------------------------------------------- train
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
    run.add_argument("--mode", choices=["stateful", "windows"])
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


MODEL_OPTIONS = (
    "embedding_size",
    "hidden_size",
    "num_layers",
    "dropout",
    "d_model",
    "num_heads",
    "context",
)
TRAIN_OPTIONS = (
    "tokenizer",
    "mode",
    "batch_size",
    "seq_len",
    "lr",
    "grad_clip",
    "epochs",
    "max_minutes",
    "val_fraction",
    "checkpoint_every",
    "seed",
    "keep_metadata",
    "keep_unclean",
    "accelerator",
    "devices",
    "num_nodes",
    "precision",
    "parts",
    "grid",
    "codec",
    "transpose_all",
    "transpose",
)


def run_train(args: argparse.Namespace) -> int:
    from tunegen.training.config import resolve_configs
    from tunegen.training.trainer import check_run_dir, train

    chosen = {
        name: getattr(args, name) for name in TRAIN_OPTIONS if getattr(args, name) is not None
    }
    if isinstance(chosen.get("devices"), str) and chosen["devices"].isdigit():
        chosen["devices"] = int(chosen["devices"])
    model_overrides = {n: getattr(args, n) for n in MODEL_OPTIONS if getattr(args, n) is not None}
    if args.init is not None:
        return run_finetune(args, chosen, model_overrides)
    midi_only = [n for n in ("parts", "grid", "codec") if n in chosen]
    if args.midi:
        chosen = {"corpus_kind": "midi", "tokenizer": "words", **chosen}
    elif midi_only:
        raise UsageError(f"--{midi_only[0].replace('_', '-')} is for MIDI corpora (--midi)")
    if args.abc or args.midi:
        chosen["corpus"] = tuple(args.midi or args.abc)
    resume = args.resume
    if resume is not None and resume.is_dir():
        resume = resume / "last.ckpt"
    if resume is not None:
        model_config, config = resumed_configs(args, resume, chosen, model_overrides)
    else:
        args.preset = args.preset or ("midi" if args.midi else "default")
        model_config, config = resolve_configs(
            args.preset, model_overrides, {"corpus": ("oneills1850",), **chosen}
        )
    run_dir = args.out or (resume.parent if resume else Path("runs") / default_run_name(args))
    if resume is None or run_dir.resolve() != resume.parent.resolve():
        check_run_dir(run_dir, args.force)
    return report_training(train(model_config, config, run_dir, resume))


def run_finetune(args: argparse.Namespace, chosen: dict, model_overrides: dict) -> int:
    """`train --init`: a new run from a model's weights, on the user's tunes (finetune.py)."""
    from tunegen.training.finetune import finetune_configs, read_initial_model
    from tunegen.training.trainer import check_run_dir, train

    if args.resume is not None:
        raise UsageError("--init starts a new run; continue a fine-tuning run with --resume alone")
    if not (args.abc or args.midi):
        raise UsageError("--init needs your tunes: --abc SOURCE... or --midi SOURCE...")
    init = read_initial_model(args.init)
    if args.midi:
        chosen.update(corpus_kind="midi", tokenizer=chosen.get("tokenizer", "words"))
    elif any(n in chosen for n in ("parts", "grid", "codec")):
        raise UsageError("--parts, --grid and --codec are for --midi")
    overrides = {**chosen, "corpus": tuple(args.midi or args.abc)}
    if args.preset is not None:
        overrides["preset"] = args.preset
    model_config, config = finetune_configs(init, model_overrides, overrides)
    specs = args.midi or args.abc
    corpus = "+".join(Path(spec).stem or "corpus" for spec in specs)[:40]
    run_dir = args.out or Path("runs") / f"{corpus}-from-{Path(args.init).stem}"
    check_run_dir(run_dir, args.force)
    return report_training(train(model_config, config, run_dir, init=init))


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


def resumed_configs(args: argparse.Namespace, resume: Path, chosen: dict, model_overrides: dict):
    """(model config, TrainConfig) of the checkpoint, with the options that may change."""
    from tunegen.models.checkpoint import checkpoint_from_raw, read_checkpoint_file
    from tunegen.training.resume import merge_with_checkpoint

    raw = read_checkpoint_file(resume)
    meta = checkpoint_from_raw(raw, resume).meta  # hand-edited metadata is refused here
    given = {**({"preset": args.preset} if args.preset else {}), **chosen}
    config, notes = merge_with_checkpoint(meta, given, model_overrides, source=str(resume))
    for note in notes:
        print(f"resuming with {note}")
    return {k: v for k, v in meta["model"].items() if k != "vocab_size"}, config


def default_run_name(args: argparse.Namespace) -> str:
    specs = args.midi or args.abc or ["oneills1850"]
    corpus = "+".join(Path(spec).stem or "corpus" for spec in specs)[:40]
    return f"{corpus}-{args.preset}"


# -------------------------------------------------------------------------------- generate
def add_generate(commands) -> None:
    p = commands.add_parser("generate", help="compose new tunes or MIDI pieces with a model")
    p.add_argument(
        "checkpoint",
        nargs="?",
        type=Path,
        help="a .ckpt file or a run folder (uses last.ckpt); default: the bundled model",
    )
    p.add_argument("--num-tunes", type=int, default=10)
    p.add_argument("--primer", help=r"start every tune with this text (\n for new lines)")
    p.add_argument("--title", help="title (T:) of every tune")
    p.add_argument("--meter", help="metre (M:), e.g. 6/8")
    p.add_argument("--key", help="key (K:), e.g. D or Ador")
    p.add_argument(
        "--temperature", type=float, help="default: the model's own (0.8 bundled), else 1"
    )
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: off)")
    p.add_argument("--max-chars", type=int, default=2000, help="longest tune in characters")
    p.add_argument("--seed", type=int, help="make the output reproducible")
    p.add_argument(
        "--out",
        type=Path,
        help="tunebook to write (default generated.abc); for a MIDI model, the folder for "
        "piece-NNN.mid, .wav and .png (default generated-midi)",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    midi = p.add_argument_group("MIDI models")
    midi.add_argument(
        "--length",
        help="length of each piece: events (notes or chords), e.g. 200 (default), or beats, "
        "e.g. 32b",
    )
    midi.add_argument(
        "--primer-midi",
        type=Path,
        metavar="FILE",
        help="start from the opening of this MIDI file (default: a random training window)",
    )
    p.add_argument(
        "--render",
        metavar="FORMATS",
        help="also render the tunes (midi,wav,svg) and index.html into OUT's -render folder",
    )
    p.add_argument(
        "--keep",
        metavar="CHECKS",
        help="keep sampling until --num-tunes tunes pass these checks: valid,metre,novel",
    )
    p.add_argument("--max-samples", type=int, help="give up after this many samples (10 x N)")
    add_threads_option(p)
    form = p.add_argument_group("form and grammar (ABC models)")
    form.add_argument("--form", help="parts of every tune, e.g. AABB, AB, ABC (repeats: AA)")
    form.add_argument(
        "--bars-per-part", type=int, help="bars in each part, 1-64 (default: the model's choice)"
    )
    form.add_argument(
        "--rhythm", help="jig, reel, hornpipe, polka, waltz, ...: writes R: and the usual metre"
    )
    form.add_argument(
        "--free",
        action="store_true",
        help="sample without following the ABC grammar (for comparison; no --form)",
    )
    add_render_options(p)
    p.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
    from tunegen.sampling.form import FormPlan
    from tunegen.sampling.sampler import HeaderPlan, SamplingOptions, compose, with_model_defaults

    plan = HeaderPlan(args.title, args.meter, args.key)
    if args.primer is not None and plan != HeaderPlan():
        raise UsageError("use --primer or --title/--meter/--key, not both")
    form = FormPlan(args.form, args.bars_per_part, args.rhythm)
    form.validate(args.meter)
    if args.free and form.active:
        raise UsageError("--form needs grammar-aware sampling: leave out --free")
    out = args.out or Path("generated.abc")
    if out.is_file():  # before the model loads: an ABC model's tunebook (a MIDI model's folder)
        refuse_overwrite(out, args.force)
    checkpoint = load_checkpoint(args.checkpoint or BUNDLED_MODEL)
    if checkpoint.meta["corpus"].get("kind") == "midi":
        if (
            args.primer is not None
            or plan != HeaderPlan()
            or args.keep
            or args.render
            or (form != FormPlan())
        ):
            raise UsageError(
                "--primer, --title/--meter/--key, --form/--rhythm, --keep and --render are "
                "for ABC models; "
                "use --primer-midi and --length with a MIDI model"
            )
        return run_generate_midi(args, checkpoint)
    if args.length or args.primer_midi:
        raise UsageError("--length and --primer-midi are for models trained with --midi")
    refuse_overwrite(out, args.force)
    options = SamplingOptions(args.temperature, args.top_k, args.top_p, args.max_chars, args.seed)
    options = with_model_defaults(options, checkpoint.meta)
    render = render_options_from_args(args, args.render) if args.render else None
    primer = (args.primer or "").replace("\\n", "\n")
    if args.keep:
        result = compose_keeping(args, checkpoint, options, primer, plan, form)
    else:
        result = compose(
            checkpoint.model, checkpoint.vocab, args.num_tunes, options, primer, plan,
            form=form, grammar=not args.free, progress=progress_bar("tunes"),
        )  # fmt: skip
    write_new_file(out, result.tunebook, args.force)
    complete = len(result.texts) - result.truncated
    print(
        f"wrote {len(result.texts)} tunes to {out} ({complete} ended by the model, "
        f"{result.truncated} stopped at --max-chars)"
    )
    print(
        f"sampled {result.chars:,} characters in {result.seconds:.1f} s "
        f"({result.chars_per_s:,.0f} chars/s)"
    )
    if result.grammar is not None:
        print(result.grammar.summary())
    if render is None:
        return 0
    return render_file(out, out.with_name(f"{out.stem}-render"), render)


def progress_bar(unit: str):
    """A `progress(done, total)` that redraws one bar on a terminal's stderr after each chunk of
    tunes; None elsewhere, so logs and pipes stay clean."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        filled = 30 * done // total
        bar = "#" * filled + "." * (30 - filled)
        end = "\n" if done == total else ""
        print(f"\r[{bar}] {done:,}/{total:,} {unit}", end=end, file=sys.stderr, flush=True)

    return show


def run_generate_midi(args: argparse.Namespace, checkpoint) -> int:
    """`generate` with a MIDI model: N pieces in batches, each as .mid, .wav and .png."""
    import time
    from dataclasses import replace

    from tunegen.music.midi import EventCodec
    from tunegen.render.synth import choose_synth
    from tunegen.sampling.midi_generate import (
        PieceFiles,
        PieceLength,
        choose_primers,
        piece_stems,
        sample_pieces,
        write_piece,
    )
    from tunegen.sampling.sampler import (
        MAX_NUM_TUNES,
        SamplingOptions,
        chunk_seed,
        chunk_size,
        with_model_defaults,
    )

    if not 1 <= args.num_tunes <= MAX_NUM_TUNES:
        raise UsageError(f"--num-tunes must be in [1, {MAX_NUM_TUNES:,}], got {args.num_tunes}")
    codec = EventCodec.from_dict(checkpoint.meta["corpus"]["codec"])
    length = PieceLength.parse(args.length or "200")
    options = SamplingOptions(args.temperature, args.top_k, args.top_p, seed=args.seed)
    options = with_model_defaults(options, checkpoint.meta)
    options.validate()
    out_dir = args.out or Path("generated-midi")
    stems = piece_stems(out_dir, args.num_tunes, args.force)
    synth = choose_synth(args.synth, args.soundfont)
    files = PieceFiles(codec.grid, program=args.program, synth=synth, soundfont=args.soundfont)
    primers = choose_primers(checkpoint, codec, args.num_tunes, args.seed, args.primer_midi)
    start = time.perf_counter()
    pieces, short, size = [], 0, chunk_size(len(checkpoint.vocab))
    for index, first in enumerate(range(0, args.num_tunes, size)):  # memory flat in N
        chunk_options = replace(options, seed=chunk_seed(options.seed, index))
        done, cut = sample_pieces(
            checkpoint.model, checkpoint.vocab, codec, primers[first : first + size], length,
            chunk_options,
        )  # fmt: skip
        pieces, short = pieces + done, short + cut
    seconds = time.perf_counter() - start
    for notes, stem in zip(pieces, stems, strict=True):
        write_piece(notes, stem, files)
    print(
        f"wrote {len(pieces)} pieces of {length.amount} {length.unit} to {out_dir}/ "
        f"(piece-NNN .mid, .wav, .png; {files.synth} synth); sampling took {seconds:.1f} s"
    )
    if short:
        print(f"{short} pieces stopped short, at the word budget")
    return 0


def compose_keeping(args: argparse.Namespace, checkpoint, options, primer: str, plan, form):
    """`generate --keep`: sample until --num-tunes tunes pass the checks; report rejections."""
    from tunegen.evaluation.selection import compose_kept, parse_checks
    from tunegen.music.abc import read_corpus

    checks = parse_checks(args.keep)
    if args.max_samples is not None and args.max_samples < args.num_tunes:
        raise UsageError(f"--max-samples must be >= --num-tunes ({args.num_tunes})")
    corpus = read_corpus(checkpoint.meta["training"]["corpus"]).tunes if "novel" in checks else []
    selection = compose_kept(
        checkpoint.model, checkpoint.vocab, args.num_tunes, options, checks, corpus,
        args.max_samples, primer, plan, form, not args.free,
    )  # fmt: skip
    reasons = ", ".join(f"{n} {why}" for why, n in selection.rejected.most_common()) or "none"
    print(f"kept {len(selection.composition.texts)} of {selection.sampled} samples "
          f"passing {','.join(checks)}; rejected: {reasons}")  # fmt: skip
    return selection.composition


# ------------------------------------------------------------------------------------ info
def add_info(commands) -> None:
    p = commands.add_parser("info", help="describe a checkpoint: model, vocabulary, corpus")
    p.add_argument("checkpoint", nargs="?", type=Path, help="default: the bundled model")
    p.set_defaults(handler=run_info)


def run_info(args: argparse.Namespace) -> int:
    from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
    from tunegen.models.summary import format_summary, model_summary
    from tunegen.training.finetune import describe_lineage

    checkpoint = load_checkpoint(args.checkpoint or BUNDLED_MODEL)
    meta = checkpoint.meta
    training, corpus = meta["training"], meta["corpus"]
    print(f"checkpoint: {checkpoint.path}")
    print(f"model: {meta['model']['kind']}, preset {training['preset']}")
    print(format_summary(model_summary(checkpoint.model)))
    vocab = checkpoint.vocab
    separator = "" if vocab.tokenizer == "chars" else " "
    symbols = separator.join(s for s in vocab.symbols[1:] if s.isprintable())
    print(f"vocabulary: {len(vocab)} symbols ({vocab.tokenizer}): <eot> {symbols}")
    print(f"corpus: {corpus['description']}: {corpus['report']}")
    print(
        f"  train {corpus['train_tunes']} tunes ({corpus['train_chars']:,} chars), "
        f"validation {corpus['val_tunes']} tunes ({corpus['val_chars']:,} chars)"
    )
    print(
        f"training: {training['mode']} batches {training['batch_size']} x {training['seq_len']}, "
        f"lr {training['lr']}, seed {training['seed']}"
    )
    print(
        f"epochs trained: {meta['epochs']} ({meta['global_step']:,} steps); "
        f"best val bits/char: {meta['best_val_bpc']:.3f}"
    )
    for line in describe_lineage(meta):
        print(line)
    return 0


# ---------------------------------------------------------------------------------- render
def add_render_options(parser: argparse.ArgumentParser) -> None:
    """Add the rendering options shared by `render` and `generate --render` (not --force,
    which each command has with its own help)."""
    from tunegen.render.synth import SYNTHS

    group = parser.add_argument_group("rendering")
    group.add_argument(
        "--synth",
        choices=SYNTHS,
        default="auto",
        help="WAV synthesizer: fluidsynth if installed with a GM soundfont (auto), or builtin",
    )
    group.add_argument("--soundfont", type=Path, help="General MIDI .sf2 file for fluidsynth")
    group.add_argument(
        "--program",
        type=_midi_program,
        default=0,
        metavar="N",
        help="General MIDI program of the melody, 0-127 (default 0, piano)",
    )
    group.add_argument(
        "--no-chords", action="store_true", help="do not play the chord symbols in quotes"
    )


def _midi_program(text: str) -> int:
    if not text.isdigit() or int(text) > 127:
        raise argparse.ArgumentTypeError(f"{text!r} is not a General MIDI program (0-127)")
    return int(text)


def render_options_from_args(args: argparse.Namespace, formats: str) -> RenderOptions:
    """RenderOptions from `add_render_options`'s options, --force and a 'midi,wav,svg' list."""
    from tunegen.render.performance import PlayOptions
    from tunegen.render.tunebook import RenderOptions, parse_formats

    return RenderOptions(
        formats=parse_formats(formats),
        synth=args.synth,
        play=PlayOptions(program=args.program, chords=not args.no_chords),
        soundfont=args.soundfont,
        force=args.force,
    )


def run_render(args: argparse.Namespace) -> int:
    options = render_options_from_args(args, args.formats)
    return render_file(args.file, args.out or Path(f"{args.file.stem}-render"), options)


def render_file(path: Path, out_dir: Path, options: RenderOptions) -> int:
    """Render every tune of an ABC file into out_dir; exit code 0 if any tune rendered."""
    from tunegen.music.abc import decode_abc_bytes
    from tunegen.render.tunebook import render_abc_text

    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    text, notes = decode_abc_bytes(path.read_bytes(), str(path))
    for note in notes:
        print(f"tunegen: {note}", file=sys.stderr)
    report = render_abc_text(text, out_dir, options, str(path))
    print(report.summary())
    return 0 if report.any_rendered else 2


def add_render(commands: argparse._SubParsersAction) -> None:
    """`tunegen render FILE.abc`: MIDI, WAV, SVG and a tunebook page for every tune."""
    parser = commands.add_parser(
        "render",
        help="render an ABC tunebook to MIDI, WAV, SVG sheet music and index.html",
        description="Render every tune of an ABC file to MIDI, WAV and SVG sheet music, "
        "with index.html, a tunebook page that works opened from disk.",
    )
    parser.add_argument("file", type=Path, metavar="FILE.abc", help="ABC tunebook")
    parser.add_argument(
        "--formats", default="midi,wav,svg", help="comma-separated: midi,wav,svg (default all)"
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: FILE-render in the current folder)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite files in the output folder")
    add_render_options(parser)
    parser.set_defaults(handler=run_render)


# -------------------------------------------------------------------------------- evaluate
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


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint, or generated tunes against a corpus, and write the report."""
    if args.checkpoint is None and args.tunes is None:
        raise UsageError("evaluate needs a CHECKPOINT or --tunes FILE")
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
    from tunegen.evaluation.likelihood import corpus_likelihood
    from tunegen.models.checkpoint import load_checkpoint
    from tunegen.music.abc import read_corpus, split_train_val

    checkpoint = load_checkpoint(args.checkpoint)
    training = checkpoint.meta["training"]
    if checkpoint.meta["corpus"].get("kind") == "midi":
        raise UsageError(f"{args.checkpoint}: a MIDI model; evaluate scores ABC models")
    if args.corpus:
        tunes, what = read_corpus(args.corpus).tunes, "+".join(args.corpus)
    else:
        all_tunes = read_corpus(training["corpus"]).tunes
        tunes = split_train_val(all_tunes, training["val_fraction"])[1]
        what = f"the held-out tunes of {'+'.join(training['corpus'])}"
    texts = [tune.text for tune in tunes]
    result = corpus_likelihood(checkpoint, texts, seq_len=training["seq_len"])
    print(f"{args.checkpoint} on {what}: {result.tunes} tunes, {result.chars:,} characters")
    if result.skipped:
        print(f"skipped {result.skipped} tunes with characters the model never saw")
    print(f"loss {result.loss:.4f} nats/char, {result.bits_per_char:.4f} bits/char, "
          f"perplexity {result.perplexity:.3f}")  # fmt: skip
    return 0


# ---------------------------------------------------------------------------------- export
def add_export(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="write a compact copy of a checkpoint (weights and configs, half precision)",
    )
    parser.add_argument("checkpoint", type=Path, help="a .ckpt file or a run folder")
    parser.add_argument("--out", type=Path, required=True, help="the .ckpt file to write")
    parser.add_argument("--float32", action="store_true", help="keep full-precision weights")
    parser.add_argument(
        "--temperature", type=float, help="the model's default sampling temperature for generate"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from tunegen.models.checkpoint import export_checkpoint, load_checkpoint

    refuse_overwrite(args.out, args.force)
    export_checkpoint(args.checkpoint, args.out, not args.float32, args.temperature)
    load_checkpoint(args.out)  # the written copy reads back and verifies
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


# ----------------------------------------------------------------------------------- serve
def add_serve(commands: argparse._SubParsersAction) -> None:
    """`tunegen serve`: the local web page to compose, hear, edit and keep tunes."""
    parser = commands.add_parser(
        "serve",
        help="open a local web page to compose, hear, edit and save tunes",
        description="Serve a web page (and its JSON API under /api/) to compose tunes with the "
        "bundled model or your checkpoints, hear and edit them, and keep them in a library.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    parser.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        help="folder of checkpoints: *.ckpt files and run folders (default: runs, if it exists)",
    )
    parser.add_argument(
        "--library",
        type=Path,
        metavar="PATH",
        help="SQLite file of saved tunes (default: tunegen/library.sqlite in $XDG_DATA_HOME "
        "or ~/.local/share)",
    )
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Check the options, open the library, then serve until Ctrl-C."""
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be 1-65535, got {args.port}")
    if args.models is not None and not args.models.is_dir():
        raise UsageError(f"--models {args.models}: no such folder")
    from tunegen.web.app import serve
    from tunegen.web.library import TuneLibrary, default_library_path

    library = TuneLibrary(args.library or default_library_path())
    serve(args.host, args.port, args.models or Path("runs"), library)
    return 0


COMMANDS = [add_train, add_generate, add_info, add_render, add_evaluate, add_export, add_serve]


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a bad option reported as one line (and exit code 2), like every error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="tunegen", description="Learn music from ABC and MIDI and compose new tunes."
    )
    parser.add_argument("--version", action="version", version=f"tunegen {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line and return exit code 2."""
    args = build_parser().parse_args(argv)
    # before any handler imports torch or numpy, whose thread pools read the variables once
    prepare_environment(getattr(args, "threads", None))
    try:
        return args.handler(args)
    except TunegenError as err:
        print(f"tunegen: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only folder, a full disk: the user's to fix, in one line
        where = f"{err.filename}: " if err.filename else ""
        print(f"tunegen: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C before training saved anything (reading, starting up)
        print("tunegen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
