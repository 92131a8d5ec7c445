"""Time `evaluate` on 1,000 stand-in generated tunes (Ryan's Mammoth + Aird's Airs) against
O'Neill's 1850: prints a table of stage and seconds, with and without the music21/verovio pass.

Run: PYTHONPATH=src python benchmarks/evaluate_speed.py [--tunes 1000] [--no-validity]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tunegen.evaluation.evaluate import evaluate, load_generated
from tunegen.evaluation.report import headline, write_report
from tunegen.music.abc import read_corpus, tunebook_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tunes", type=int, default=1000)
    parser.add_argument("--no-validity", action="store_true", help="skip music21 and verovio")
    parser.add_argument("--jobs", type=int, default=2, help="processes for music21 and verovio")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        stand_ins = read_corpus(["ryansMammoth+airdsAirs"]).tunes[: args.tunes]
        path = Path(folder) / "generated.abc"
        path.write_text(tunebook_text(stand_ins), encoding="utf-8")
        generated = load_generated(str(path))
        corpus = read_corpus(["oneills1850"])
        rows.append(("read and tokenize tunes", time.perf_counter() - start))
        report = evaluate(generated, corpus, validity=not args.no_validity, jobs=args.jobs)
        rows += list(report["seconds"].items())
        lap = time.perf_counter()
        write_report(report, Path(folder) / "report")
        rows.append(("write report and plots", time.perf_counter() - lap))
    total = time.perf_counter() - start
    print(f"{len(generated.facts)} tunes against {corpus.description} ({len(corpus.tunes)} tunes)")
    print(f"| {'stage':<24} | seconds |\n|{'-' * 26}|---------|")
    for stage, seconds in [*rows, ("total", total)]:
        print(f"| {stage:<24} | {seconds:7.2f} |")
    print("\n".join(headline(report)))


if __name__ == "__main__":
    main()
