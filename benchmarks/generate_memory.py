"""Peak memory of `tunegen generate --num-tunes N` (the command a user runs) for growing N.

    python benchmarks/generate_memory.py [--counts 100 1000 10000] [--max-chars 2000]

Each count runs the bundled model in a new process and reads its peak RSS from the kernel
(getrusage of the finished child). Before chunked sampling (issue 17) memory grew by about 0.45 MB
a tune: 10,000 tunes needed ~4.5 GB. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb(count: int, max_chars: int, folder: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one `tunegen generate` process."""
    out = folder / f"tunes-{count}.abc"
    command = [sys.executable, "-m", "tunegen", "generate", "--num-tunes", str(count), "--seed",
               "1", "--max-chars", str(max_chars), "--out", str(out), "--force"]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"generate --num-tunes {count} failed")
    return usage.ru_maxrss / 1024, seconds  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--max-chars", type=int, default=2000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for count in args.counts:
            mb, seconds = peak_rss_mb(count, args.max_chars, Path(folder))
            rows.append(f"| {count:,} | {args.max_chars} | {mb:,.0f} | {seconds:.1f} |")
    table = ["| tunes | --max-chars | peak RSS MB | seconds |", "|---:|---:|---:|---:|", *rows]
    print("\n".join(table))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
