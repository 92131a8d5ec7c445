"""What cleaning does to the bundled collections, and what abc2midi says of them before and after.

    python benchmarks/clean_corpus.py [oneills1850 ryansMammoth airdsAirs] [--out DIR]

Per collection: tunes read, kept unchanged, kept repaired or stripped, dropped (with the reasons),
and abc2midi's verdicts (`abc2midi -c`, each tune alone) on every tune as it is and on the cleaned
tunes. Prints tables and appends them to benchmarks/RESULTS.md; asserts nothing. Needs Debian's
`abcmidi` package.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from tunegen.music import abc2midi
from tunegen.music.abc import read_corpus, tunebook_text
from tunegen.music.abc_clean import clean_tune

RESULTS = Path(__file__).with_name("RESULTS.md")


def share(verdicts: list, attribute: str) -> str:
    return f"{sum(getattr(v, attribute) for v in verdicts) / max(len(verdicts), 1):.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "collections", nargs="*", default=["oneills1850", "ryansMammoth", "airdsAirs"]
    )
    parser.add_argument("--out", type=Path, help="also write each cleaned collection here as .abc")
    args = parser.parse_args()
    if not abc2midi.available():
        sys.exit("abc2midi is not installed (Debian: apt-get install abcmidi)")
    table = [
        "| collection | tunes | kept as they were | kept, cleaned | dropped | abc2midi no error "
        "/ every bar right, as they are | the same, cleaned | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    reasons_table = ["| collection | change or drop reason | tunes |", "|---|---|---:|"]
    for name in args.collections:
        start = time.perf_counter()
        tunes = read_corpus([name]).tunes
        results = [clean_tune(tune) for tune in tunes]
        kept = [r.tune for r in results if r.tune is not None]
        changed = sum(1 for r in results if r.tune is not None and r.changes)
        counts = Counter(f"dropped: {r.dropped}" for r in results if r.dropped)
        counts.update(change for r in results if r.tune is not None for change in r.changes)
        before = abc2midi.check_tunes([tune.abc(1) for tune in tunes])
        after = abc2midi.check_tunes([tune.abc(1) for tune in kept])
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{name}-clean.abc").write_text(tunebook_text(kept), encoding="utf-8")
        table.append(
            f"| {name} | {len(tunes)} | {len(kept) - changed} | {changed} | "
            f"{len(tunes) - len(kept)} | {share(before, 'no_error')} / "
            f"{share(before, 'every_bar_right')} | {share(after, 'no_error')} / "
            f"{share(after, 'every_bar_right')} | {time.perf_counter() - start:.0f} |"
        )
        print(table[-1], flush=True)
        for what, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            reasons_table.append(f"| {name} | {what.replace('|', chr(92) + '|')} | {count} |")
    print("\n".join(table), "", "\n".join(reasons_table), sep="\n")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "python benchmarks/" + Path(__file__).name + " " + " ".join(sys.argv[1:])
    with RESULTS.open("a", encoding="utf-8") as file:
        file.write(f"\n## Clean training text (`clean_corpus.py`, issue 14), {date.today()}\n\n")
        file.write(f"`{command.strip()}`, ")
        file.write(f"load average {load} (a busy shared machine)\n\n")
        file.write("\n".join(table) + "\n\n" + "\n".join(reasons_table) + "\n")


if __name__ == "__main__":
    main()
