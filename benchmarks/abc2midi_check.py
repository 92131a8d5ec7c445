"""Judge tunebooks the way the write-ups were judged: with abc2midi, the reference converter.

    python benchmarks/abc2midi_check.py generated.abc [more.abc ...] [--limit 300]

For each tune: does `abc2midi -c` (check only) report no error, and no "Bar N has ... time units"
warning (every bar the right length)? Prints a table per file; asserts nothing. Needs Debian's
`abcmidi` package (apt-get install abcmidi).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TUNE_START = re.compile(r"(?m)^(?=X:)")
BAR_WARNING = re.compile(r"Bar \d+ has .* time units")


def split_tunes(text: str) -> list[str]:
    """The tunes of a tunebook: each from its X: line to the next."""
    return [part for part in TUNE_START.split(text) if part.startswith("X:")]


def check(tune: str, folder: Path, index: int) -> tuple[bool, bool]:
    """(no error, every bar right) for one tune."""
    path = folder / f"tune{index}.abc"
    path.write_text(tune, encoding="utf-8")
    result = subprocess.run(  # in the temporary folder: abc2midi writes a barloc.txt there
        ["abc2midi", path.name, "-c"], capture_output=True, text=True, errors="replace", cwd=folder
    )
    output = result.stdout + result.stderr
    no_error = "Error" not in output and result.returncode == 0
    return no_error, no_error and not BAR_WARNING.search(output)


def score(path: Path, limit: int) -> tuple[int, float, float]:
    tunes = split_tunes(path.read_text(encoding="utf-8", errors="replace"))[:limit]
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(2) as pool:
        results = list(pool.map(check, tunes, [Path(folder)] * len(tunes), range(len(tunes))))
    count = max(len(results), 1)
    return len(results), sum(r[0] for r in results) / count, sum(r[1] for r in results) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=1000, help="tunes per file at most")
    args = parser.parse_args()
    if shutil.which("abc2midi") is None:
        sys.exit("abc2midi is not installed (Debian: apt-get install abcmidi)")
    print(f"{'file':<48}{'tunes':>7}{'no error':>10}{'every bar right':>17}")
    for path in args.files:
        count, no_error, bars = score(path, args.limit)
        print(f"{str(path)[-47:]:<48}{count:>7}{no_error:>10.0%}{bars:>17.0%}")


if __name__ == "__main__":
    main()
