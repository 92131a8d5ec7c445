"""How fast the incremental ABC reader follows a tune symbol by symbol, as a sampler feeds it.

    python benchmarks/abc_scan_speed.py tunes.abc [--tunes 400] [--record]

Feeds every character of each tune to `AbcScanner.feed` one at a time, alone, then with the
questions a sampler asks after each character (`ticks_left()`, `bar_line_ok("|")`), then with a
`copy()` as well; and times single calls of `copy`, `bar_line_ok(":|")` and `can_end`. CPU time
(process time), best of three. Prints a table; `--record` appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

from tunegen.music.abc2midi import split_tunes
from tunegen.music.abc_scan import AbcScanner

RESULTS = Path(__file__).with_name("RESULTS.md")


def per_char(tunes: list[str], mode: int) -> float:
    """Microseconds of CPU per character fed (mode 0 feed, 1 + questions, 2 + copy)."""
    chars = sum(len(tune) for tune in tunes)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for tune in tunes:
            scan = AbcScanner()
            for char in tune:
                scan.feed(char)
                if mode and not scan.in_header:
                    scan.ticks_left()
                    scan.bar_line_ok("|")
                if mode == 2:
                    scan.copy()
        best = min(best, (time.process_time() - started) / chars * 1e6)
    return best


def per_call(scan: AbcScanner, call: str, repeats: int) -> float:
    started = time.process_time()
    for _ in range(repeats):
        if call == "copy":
            scan.copy()
        elif call == "can_end":
            scan.can_end()
        else:
            scan.bar_line_ok(":|")
    return (time.process_time() - started) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="an ABC tunebook, e.g. from tunegen generate")
    parser.add_argument("--tunes", type=int, default=400)
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    tunes = split_tunes(args.file.read_text(errors="replace"))[: args.tunes]
    load = os.getloadavg()
    rows = [
        ("feed, one character at a time", per_char(tunes, 0), "char"),
        ("feed + ticks_left() + bar_line_ok('|') per character", per_char(tunes, 1), "char"),
        ("the same + copy() per character", per_char(tunes, 2), "char"),
    ]
    scan = AbcScanner()
    scan.feed(tunes[0][: len(tunes[0]) * 2 // 3])
    rows += [(f"{call} (one call, mid-tune)", per_call(scan, call, 2000), "call")
             for call in ("copy", "bar_line_ok(':|')", "can_end")]  # fmt: skip
    chars = sum(len(tune) for tune in tunes)
    lines = ["| what | microseconds |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} per {unit} |" for name, value, unit in rows]
    text = "\n".join(lines)
    print(text)
    if args.record:
        command = "python benchmarks/abc_scan_speed.py " + " ".join(sys.argv[1:])
        RESULTS.open("a", encoding="utf-8").write(
            f"\n## Incremental ABC reader speed (`abc_scan_speed.py`, issue 13)\n\n"
            f"```bash\n{command}\n```\n\n{date.today()}, {len(tunes)} tunes, {chars} characters, "
            f"CPU time (best of 3), load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start "
            f"(a busy machine: expect less on a quiet one).\n\n{text}\n"
        )


if __name__ == "__main__":
    main()
