"""Functions the worker tests run in child processes: importing this module is cheap there."""

from __future__ import annotations

import os
import sys
import time


def hang(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def double(n: int) -> int:
    return 2 * n


def abort_like_cpp() -> None:
    """What an uncaught C++ exception in verovio does: a line on stderr, then SIGABRT."""
    sys.stderr.write(
        "terminate called after throwing an instance of 'std::out_of_range'\n"
        "  what():  vector::_M_range_check\n"
    )
    sys.stderr.flush()
    os.abort()


def fail() -> None:
    raise ZeroDivisionError("Fraction(2, 0)")


def runaway_play(abc: str, out_dir: str, stem: str, options: object, synth: str) -> None:
    """Stands in for render's _play_files on a tune that never finishes: a partial WAV, then
    no end."""
    with open(os.path.join(out_dir, f"{stem}.wav"), "wb") as partial:
        partial.write(b"RIFF")
    time.sleep(600)
