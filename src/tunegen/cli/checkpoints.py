"""`tunegen info`, `export` and `serve`: describe and copy checkpoints, serve the web page."""

from __future__ import annotations

import argparse
from pathlib import Path

from tunegen.errors import UsageError
from tunegen.runtime.fileio import refuse_overwrite


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
    parser.add_argument(
        "--header-temperature",
        type=float,
        help="its default for a tune's header alone (metre, key, title); default: --temperature",
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from tunegen.models.checkpoint import export_checkpoint, load_checkpoint

    refuse_overwrite(args.out, args.force)
    export_checkpoint(
        args.checkpoint, args.out, not args.float32, args.temperature, args.header_temperature
    )
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
