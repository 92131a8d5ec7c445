"""Corpus specs -> files: a file, a folder searched recursively, or a glob pattern."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

from tunegen.errors import CorpusError


def resolve_paths(spec: str, suffixes: Sequence[str], bundled: Sequence[str]) -> list[Path]:
    """Files named by `spec`; a folder yields its files ending in `suffixes` (any case).

    `bundled` only names the bundled corpora in the error for a spec that matches nothing.
    """
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
        if not files:
            raise CorpusError(f"{spec}: folder has no {' or '.join(suffixes)} files")
        return files
    if path.is_file():
        return [path]
    if glob.has_magic(spec):
        files = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not files:
            raise CorpusError(f"{spec}: pattern matches no files")
        return files
    names = ", ".join(bundled)
    raise CorpusError(f"{spec}: no such file or folder, and not a bundled corpus ({names})")
