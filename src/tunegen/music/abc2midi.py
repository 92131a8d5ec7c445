"""Run abc2midi, the reference ABC converter, as a checker: per-tune verdicts and its messages."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

TUNE_START = re.compile(r"(?m)^(?=X:)")
BAR_WARNING = re.compile(r"Bar \d+ has .* time units")
TIMEOUT_S = 20


@dataclass(frozen=True)
class Abc2midiVerdict:
    """What `abc2midi -c` says of one tune: no error, every bar right, and its messages."""

    no_error: bool
    every_bar_right: bool
    messages: tuple[str, ...]


def available() -> bool:
    """Whether the abc2midi program is on the PATH (Debian package `abcmidi`)."""
    return shutil.which("abc2midi") is not None


def split_tunes(text: str) -> list[str]:
    """The tunes of a tunebook: each from its X: line to the next."""
    return [part for part in TUNE_START.split(text) if part.startswith("X:")]


def _verdict(output: str, returncode: int) -> Abc2midiVerdict:
    messages = tuple(line.strip() for line in output.splitlines() if line.strip())
    no_error = "Error" not in output and returncode == 0
    return Abc2midiVerdict(no_error, no_error and not BAR_WARNING.search(output), messages)


def check_tune(tune: str, folder: Path, index: int = 0) -> Abc2midiVerdict:
    """Run `abc2midi -c` (check only) on one tune, writing it to `folder` first."""
    path = folder / f"tune{index}.abc"
    path.write_text(tune if tune.startswith("X:") else f"X:1\n{tune}", encoding="utf-8")
    try:
        result = subprocess.run(  # in the folder: abc2midi writes a barloc.txt where it runs
            ["abc2midi", path.name, "-c"],
            capture_output=True,
            text=True,
            errors="replace",
            cwd=folder,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return Abc2midiVerdict(False, False, ("abc2midi timed out",))
    return _verdict(result.stdout + result.stderr, result.returncode)


def check_tunes(tunes: Sequence[str], workers: int = 2) -> list[Abc2midiVerdict]:
    """`check_tune` for each tune (each alone, as the write-ups judged them), in a few threads."""
    if not available():
        raise FileNotFoundError("abc2midi is not installed (Debian: apt-get install abcmidi)")
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(workers) as pool:
        where = [Path(folder)] * len(tunes)
        return list(pool.map(check_tune, tunes, where, range(len(tunes))))
