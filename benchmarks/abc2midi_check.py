"""Judge tunebooks the way the write-ups were judged: with abc2midi, the reference converter.

    python benchmarks/abc2midi_check.py generated.abc [more.abc ...] [--limit 300]

For each tune: does `abc2midi -c` (check only) report no error, and no "Bar N has ... time units"
warning (every bar the right length)? Prints a table per file; asserts nothing. Needs Debian's
`abcmidi` package (apt-get install abcmidi). The runner is `tunegen.music.abc2midi`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tunegen.music import abc2midi


def score(path: Path, limit: int) -> tuple[int, float, float]:
    tunes = abc2midi.split_tunes(path.read_text(encoding="utf-8", errors="replace"))[:limit]
    results = abc2midi.check_tunes(tunes)
    count = max(len(results), 1)
    no_error = sum(r.no_error for r in results) / count
    return len(results), no_error, sum(r.every_bar_right for r in results) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=1000, help="tunes per file at most")
    args = parser.parse_args()
    if not abc2midi.available():
        sys.exit("abc2midi is not installed (Debian: apt-get install abcmidi)")
    print(f"{'file':<48}{'tunes':>7}{'no error':>10}{'every bar right':>17}")
    for path in args.files:
        count, no_error, bars = score(path, args.limit)
        print(f"{str(path)[-47:]:<48}{count:>7}{no_error:>10.0%}{bars:>17.0%}")


if __name__ == "__main__":
    main()
