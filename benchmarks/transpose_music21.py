"""Does the ABC transposer agree with music21's own transposition on every tune of a collection?

    python benchmarks/transpose_music21.py [oneills1850 ryansMammoth airdsAirs] [--limit N]

Tune i is moved by shift i mod 11 of the 11 non-zero shifts of --transpose-all (-5..+6 semitones),
so every key change is tried. A tune agrees when music21 reads the same sounding pitch for every
note, chord note and chord symbol of our text as in its own transposition of the original. Prints
a table (tunes agreeing, disagreeing, kept in their own key by the transposer, unreadable by
music21) and appends it to benchmarks/RESULTS.md; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from tunegen.music.abc import read_corpus
from tunegen.music.transpose import ALL_SHIFTS, TransposeError, interval_by_semitones, tune_key
from tunegen.music.transpose_oracle import agrees_with_music21

SHIFTS = [shift for shift in ALL_SHIFTS if shift]
RESULTS = Path(__file__).with_name("RESULTS.md")


def check_collection(name: str, limit: int | None) -> tuple[Counter[str], list[str]]:
    """Verdict counts for one collection, and a line per disagreement or kept tune."""
    counts: Counter[str] = Counter()
    notes = []
    for index, tune in enumerate(read_corpus([name]).tunes[:limit]):
        try:
            interval = interval_by_semitones(tune_key(tune), SHIFTS[index % len(SHIFTS)])
        except TransposeError as err:
            verdict, detail = None, f"kept in own key: {err}"
        else:
            verdict, detail = agrees_with_music21(tune, interval)
        if verdict is True:
            counts["agree"] += 1
        elif verdict is False:
            counts["disagree"] += 1
            notes.append(f"{tune.source}: {detail}")
        elif detail.startswith("kept"):
            counts["kept in own key"] += 1
            notes.append(f"{tune.source}: {detail}")
        else:
            counts["music21 cannot read"] += 1
            notes.append(f"{tune.source}: {detail}")
    return counts, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "collections", nargs="*", default=["oneills1850", "ryansMammoth", "airdsAirs"]
    )
    parser.add_argument("--limit", type=int, help="first N tunes of each collection")
    args = parser.parse_args()
    columns = ("agree", "disagree", "kept in own key", "music21 cannot read")
    header = f"| collection | tunes | {' | '.join(columns)} | seconds |"
    rows = [header, "|---|" + "---:|" * (len(columns) + 2)]
    print(header)
    for name in args.collections:
        start = time.perf_counter()
        counts, notes = check_collection(name, args.limit)
        seconds = time.perf_counter() - start
        total = sum(counts.values())
        cells = " | ".join(f"{counts[c]} ({counts[c] / max(total, 1):.1%})" for c in columns)
        rows.append(f"| {name} | {total} | {cells} | {seconds:.0f} |")
        print(rows[-1])
        for line in notes:
            print(f"  {line}", file=sys.stderr)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    command = "python benchmarks/" + Path(__file__).name + " " + " ".join(sys.argv[1:])
    with RESULTS.open("a", encoding="utf-8") as file:
        title = "ABC transposer against music21 (`transpose_music21.py`, issue 14)"
        file.write(f"\n## {title}, {date.today()}\n\n")
        file.write(f"`{command.strip()}`, ")
        file.write(f"load average {load} (a busy shared machine)\n\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
