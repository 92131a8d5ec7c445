"""Grammar-aware sampling against its targets (issue 13), through `tunegen generate` end to end.

    python benchmarks/grammar.py [--num-tunes 1000] [--seed 0] [--model CKPT]
                                 [--free-temperatures 0.5,0.6] [--no-append]

With the bundled model (or --model): plain `generate` (grammar on), `--keep valid,metre,novel`,
`--form AABB --bars-per-part 8` and `--free` (and `--free` at each of --free-temperatures, beside
the model's own), each judged per tune by tunegen's own check (music.abc_scan)
and by abc2midi; style overlap with the corpus (pitch classes, intervals, pitch range), mean
length in bars, distinct tunes, repeated bars against the corpus' 95th percentile, and chars/s at
batch 64 with the grammar and without. Prints a table and appends it to benchmarks/RESULTS.md;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from tunegen.evaluation import style
from tunegen.evaluation.evaluate import NoveltyIndex, abc_facts
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.music import abc2midi
from tunegen.music.abc import parse_tunebook, read_corpus
from tunegen.music.abc_scan import check_text, scan_text
from tunegen.music.metre import structure

RESULTS = Path(__file__).with_name("RESULTS.md")
RATE = re.compile(r"\(([\d,]+) chars/s\)")
TARGETS = {
    "plain": "abc2midi >= 97% / >= 95%",
    "keep": ">= 99.5% / >= 99%, copies <= 1%",
    "form": ">= 99% two repeated 8-bar parts",
    "free": "(the comparison)",
}
COMPARISON = "(the comparison)"


def generate(extra: list[str], out: Path) -> tuple[float, float, str]:
    """Run `tunegen generate`; (wall seconds, chars/s it printed, its output)."""
    command = [sys.executable, "-m", "tunegen", "generate", "--out", str(out), "--force", *extra]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    rate = RATE.search(result.stdout)
    return wall, float(rate.group(1).replace(",", "")) if rate else 0.0, result.stdout


def repeated_share(tune_text: str) -> float:
    """Share of a tune's bars (as written) that repeat an earlier bar of the same tune."""
    bars = [bar.strip() for bar in re.split(r"[|:\]\[]+", tune_text.split("K:", 1)[-1])]
    bars = [bar for bar in bars if re.search(r"[A-Ga-g]", bar)]
    return 1 - len(set(bars)) / len(bars) if bars else 0.0


def two_repeated_parts(tune_text: str, bars: int = 8) -> bool:
    """Exactly two sections, each closed by :| and each of `bars` bars with music."""
    scan = scan_text(tune_text)
    sections, count = [], 0
    for bar in scan.bars:
        count += bar.time > 0
        if bar.line.startswith(":"):
            sections.append(count)
            count = 0
    return sections == [bars, bars] and count == 0


def style_overlap(tunes: list, corpus_facts: list) -> float:
    """Mean overlap with the corpus of pitch-class, interval and pitch-range histograms."""
    ours = [abc_facts(tune).melody for tune in tunes]
    theirs = [facts.melody for facts in corpus_facts]
    pairs = [
        style.pitch_class_counts,
        style.interval_counts,
        lambda ms: style.range_counts(style.pitch_ranges(ms)),
    ]
    return float(np.mean([style.overlap(count(ours), count(theirs)) for count in pairs]))


def judge(path: Path, corpus, corpus_facts, index: NoveltyIndex, p95: float) -> dict:
    """Every figure of one generated tunebook."""
    text = path.read_text(encoding="utf-8")
    raw = abc2midi.split_tunes(text)
    verdicts = abc2midi.check_tunes(raw)
    own = [check_text(tune) for tune in raw]
    tunes, _ = parse_tunebook(text)
    n = max(len(raw), 1)
    shares = [repeated_share(tune) for tune in raw]
    bodies = {tune.split("\n", 2)[-1] for tune in raw}
    return {
        "tunes": len(raw),
        "abc2midi_no_error": sum(v.no_error for v in verdicts) / n,
        "abc2midi_bars": sum(v.every_bar_right for v in verdicts) / n,
        "own_no_error": sum(v.no_error for v in own) / n,
        "own_bars": sum(v.every_bar_right for v in own) / n,
        "copies": sum(index.nearest(tune).copy for tune in tunes) / n,
        "style": style_overlap(tunes, corpus_facts),
        "bars": statistics.mean(structure(tune).bars for tune in tunes) if tunes else 0.0,
        "distinct": len(bodies) / n,
        "over_p95": sum(share > p95 for share in shares) / n,
        "form": sum(two_repeated_parts(tune) for tune in raw) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-tunes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=BUNDLED_MODEL, help="a checkpoint")
    parser.add_argument(
        "--free-temperatures", default="", help="also --free at these, e.g. 0.5,0.6 (comma list)"
    )
    parser.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    if not abc2midi.available():
        sys.exit("abc2midi is not installed (Debian: apt-get install abcmidi)")
    load_before = os.getloadavg()
    checkpoint = load_checkpoint(args.model)
    corpus = read_corpus(checkpoint.meta["training"]["corpus"])
    corpus_facts = [abc_facts(tune) for tune in corpus.tunes]
    corpus_bars = statistics.mean(f.structure.bars for f in corpus_facts)
    corpus_shares = [repeated_share(tune.abc(1)) for tune in corpus.tunes]
    p95 = float(np.percentile(corpus_shares, 95))
    index = NoveltyIndex(corpus.tunes)
    n, seed = str(args.num_tunes), str(args.seed)
    common = [str(args.model), "--num-tunes", n, "--seed", seed]
    runs = {
        "plain": common,
        "keep": [*common, "--keep", "valid,metre,novel"],
        "form": [*common, "--form", "AABB", "--bars-per-part", "8"],
        "free": [*common, "--free"],
    }
    for temperature in filter(None, args.free_temperatures.split(",")):
        runs[f"free, temperature {float(temperature)}"] = [
            *common, "--free", "--temperature", str(float(temperature))
        ]  # fmt: skip
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, extra in runs.items():
            out = Path(folder) / f"{name}.abc"
            wall, rate, stdout = generate(extra, out)
            rows[name] = judge(out, corpus, corpus_facts, index, p95)
            rows[name].update(wall=wall, rate=rate, log=stdout.strip().splitlines()[-1])
            print(f"{name}: {rows[name]}", flush=True)
        speed = {"grammar": [], "free": []}
        for _ in range(3):  # interleaved, best of three: the machine is shared
            for name, extra in (("grammar", []), ("free", ["--free"])):
                out = Path(folder) / f"speed-{name}.abc"
                batch = [str(args.model), "--num-tunes", "64", "--seed", seed, *extra]
                speed[name].append(generate(batch, out))
    load_after = os.getloadavg()
    best = {name: max(rate for _, rate, _ in runs_) for name, runs_ in speed.items()}
    walls = {name: min(wall for wall, _, _ in runs_) for name, runs_ in speed.items()}
    table = [
        "| run | tunes | tunegen: no error | tunegen: every bar right | abc2midi: no error "
        "| abc2midi: every bar right | copies | style overlap | mean bars | distinct "
        "| over corpus p95 repeats | two 8-bar repeated parts | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in rows.items():
        table.append(
            f"| {name} | {row['tunes']} | {row['own_no_error']:.1%} | {row['own_bars']:.1%} "
            f"| {row['abc2midi_no_error']:.1%} | {row['abc2midi_bars']:.1%} "
            f"| {row['copies']:.1%} | {row['style']:.3f} | {row['bars']:.1f} "
            f"| {row['distinct']:.1%} | {row['over_p95']:.1%} | {row['form']:.1%} "
            f"| {TARGETS.get(name, COMPARISON)} |"
        )
    table.append(
        f"| corpus | {len(corpus.tunes)} | | | | | | | {corpus_bars:.1f} | | "
        f"p95 repeated-bar share {p95:.2f} | | |"
    )
    ratio = best["grammar"] / max(best["free"], 1e-9)
    speed_line = (
        f"Batch 64 through `tunegen generate` (best of 3, interleaved): grammar "
        f"{best['grammar']:,.0f} chars/s, --free {best['free']:,.0f} chars/s: {ratio:.0%} of "
        f"free's (target >= 50%); whole command {walls['grammar']:.1f} s vs {walls['free']:.1f} s."
    )
    logs = "\n".join(f"- {name}: {row['log']}" for name, row in rows.items())
    report = "\n".join(table) + "\n\n" + speed_line + "\n\n" + logs + "\n"
    print(report)
    if args.no_append:
        return
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    loads = f"load {load_before[0]:.1f} before, {load_after[0]:.1f} after (2 cores, shared)"
    with RESULTS.open("a", encoding="utf-8") as file:
        file.write(
            f"\n## Grammar-aware sampling (`grammar.py`, issue 13), {stamp}\n\n"
            f"```bash\npython benchmarks/grammar.py {' '.join(sys.argv[1:])}\n```\n\n"
            f"Model {args.model} (default temperature "
            f"{checkpoint.meta.get('sampling', {}).get('temperature', 1.0)}); {loads}.\n\n{report}"
        )


if __name__ == "__main__":
    main()
