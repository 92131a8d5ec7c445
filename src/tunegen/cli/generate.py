"""`tunegen generate`: compose tunes with an ABC model, or pieces with a MIDI model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tunegen.cli.render import add_render_options, render_file, render_options_from_args
from tunegen.errors import UsageError
from tunegen.runtime.fileio import refuse_overwrite, write_new_file
from tunegen.runtime.threads import add_threads_option, find_blas_pools


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
        "--temperature", type=float, help="default: the model's own (0.6 bundled), else 1"
    )
    p.add_argument(
        "--header-temperature",
        type=float,
        help="a tune's header (metre, key, title) at this temperature; default: the model's own "
        "(0.8 bundled), else --temperature",
    )
    p.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (1: off)")
    p.add_argument(
        "--max-chars",
        "--max-symbols",
        type=int,
        default=2000,
        dest="max_symbols",
        help="longest tune in symbols: characters, or ABC tokens for a model trained with "
        "--tokenizer abc",
    )
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
    from tunegen.models.checkpoint import BUNDLED_MODEL, load_for_sampling
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
    checkpoint = load_for_sampling(args.checkpoint or BUNDLED_MODEL)
    find_blas_pools()  # start-up work, like loading the model: not part of sampling's time
    if checkpoint.kind == "midi":
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
    options = SamplingOptions(
        args.temperature, args.top_k, args.top_p, args.max_symbols, args.seed,
        args.header_temperature,
    )  # fmt: skip
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
    from tunegen.music.midi import EventCodec
    from tunegen.render.synth import choose_synth
    from tunegen.sampling.midi_generate import (
        PieceFiles,
        PieceLength,
        compose_pieces,
        piece_stems,
        write_piece,
    )
    from tunegen.sampling.sampler import MAX_NUM_TUNES, SamplingOptions, with_model_defaults

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
    result = compose_pieces(checkpoint, args.num_tunes, length, options, args.primer_midi)
    for notes, stem in zip(result.pieces, stems, strict=True):
        write_piece(notes, stem, files)
    print(
        f"wrote {len(result.pieces)} pieces of {length.amount} {length.unit} to {out_dir}/ "
        f"(piece-NNN .mid, .wav, .png; {files.synth} synth); sampling took "
        f"{result.seconds:.1f} s"
    )
    if result.short:
        print(f"{result.short} pieces stopped short, at the word budget")
    return 0


def compose_keeping(args: argparse.Namespace, checkpoint, options, primer: str, plan, form):
    """`generate --keep`: sample until --num-tunes tunes pass the checks; report rejections."""
    from tunegen.data.splits import corpus_tunes
    from tunegen.evaluation.selection import compose_kept, parse_checks

    checks = parse_checks(args.keep)
    if args.max_samples is not None and args.max_samples < args.num_tunes:
        raise UsageError(f"--max-samples must be >= --num-tunes ({args.num_tunes})")
    corpus = corpus_tunes(checkpoint.meta["training"]) if "novel" in checks else []
    selection = compose_kept(
        checkpoint.model, checkpoint.vocab, args.num_tunes, options, checks, corpus,
        args.max_samples, primer, plan, form, not args.free,
    )  # fmt: skip
    reasons = ", ".join(f"{n} {why}" for why, n in selection.rejected.most_common()) or "none"
    print(f"kept {len(selection.composition.texts)} of {selection.sampled} samples "
          f"passing {','.join(checks)}; rejected: {reasons}")  # fmt: skip
    return selection.composition
