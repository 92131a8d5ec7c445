"""Which engraver draws what the ABC says: abcjs, abcm2ps and verovio on the same 100 tunes.

50 tunes from the bundled model (`tunegen generate --num-tunes 50 --seed 0`) and 50 human tunes
(music21's two Nottingham tunes, then the first 24 of Ryan's Mammoth Collection and of
O'Neill's 1850), each drawn by every engine.
For each tune the script counts, in the ABC (through tunegen's own bar reader) and in each
engine's output, bar lines, repeat signs (a dot pair: |: and :| one each, :: two), ending brackets,
chord symbols and tuplets. A tune is drawn right when every count matches.

How each engine's drawing is counted:
- abcjs (run in Chromium, with add_classes): g.abcjs-bar, dots.dot paths / 2, .abcjs-ending,
  .abcjs-chord, .abcjs-triplet.
- abcm2ps (-g -A: SVG with its own position notes): <abc type="B"> bars, #rdots uses, ending
  numbers (text elements of digits, commas and dashes that are no chord symbol), chord-symbol
  texts matching the ABC's; it draws tuplet numbers as glyphs, not text, so tuplets are not counted.
- verovio: g.barLine, repeats from its MEI (@left/@right rptstart, rptend, rptboth), g.ending,
  g.harm, g.tuplet.

    PYTHONPATH=src python benchmarks/sheet_engines.py [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint
from tunegen.music.abc import Tune, bundled_corpus_files, parse_tunebook, read_abc_file
from tunegen.music.abc_rhythm import read_bars
from tunegen.sampling.sampler import SamplingOptions, compose, with_model_defaults

ABCJS = Path(__file__).parents[1] / "src/tunegen/web/static/vendor/abcjs-basic-min.js"
CHROMIUM = "/usr/bin/chromium"
# music21 ships only two Nottingham tunes: then Ryan's Mammoth Collection and O'Neill's 1850
HUMAN = {"nottingham-dataset": 2, "ryansMammoth": 24, "oneills1850": 24}
KINDS = ("bars", "repeats", "endings", "chords", "tuplets")
_STRINGS = re.compile(r'"[^"]*"')
_CHORD = re.compile(r'"([^"^_<>@][^"]*)"')
_TUPLET = re.compile(r"\([2-9]")


def tunes_to_draw() -> list[tuple[str, str]]:
    """(source, ABC) for 50 generated and 50 human tunes."""
    checkpoint = load_checkpoint(BUNDLED_MODEL)
    options = with_model_defaults(SamplingOptions(None, seed=0), checkpoint.meta)
    book = compose(checkpoint.model, checkpoint.vocab, 50, options).tunebook
    generated, _ = parse_tunebook(book, keep_metadata=True)
    human: list[Tune] = []
    for corpus, count in HUMAN.items():
        found: list[Tune] = []
        for path in bundled_corpus_files(corpus):
            found += read_abc_file(path, keep_metadata=True)[0]
            if len(found) >= count:
                break
        human += found[:count]
    return [("model", t.abc(n)) for n, t in enumerate(generated, 1)] + [
        ("human", t.abc(n)) for n, t in enumerate(human, 1)
    ]


def expected(abc: str) -> dict[str, int]:
    """What the ABC asks to be drawn."""
    tunes, _ = parse_tunebook(abc, keep_metadata=True)
    bars = read_bars(tunes[0])
    signs = [bar.end for bar in bars if bar.end]
    body = "\n".join(line for line in abc.splitlines() if not re.match(r"[A-Za-z]:", line))
    return {
        "bars": len(signs),
        "repeats": sum(
            2 if sign.strip("|[]") == "::" else sign.startswith(":") + sign.endswith(":")
            for sign in signs
        ),
        "endings": sum(bool(bar.ending) for bar in bars),
        "chords": len(_CHORD.findall(body)),
        "tuplets": len(_TUPLET.findall(_STRINGS.sub("", body))),
    }


def draw_abcjs(abcs: list[str]) -> tuple[list[dict[str, int]], float]:
    """Counts of what abcjs draws for each tune, in one headless Chromium page."""
    from playwright.sync_api import sync_playwright

    script = """abcs => abcs.map(abc => {
      const div = document.createElement('div'); document.body.append(div);
      ABCJS.renderAbc(div, abc, {add_classes: true});
      const n = s => div.querySelectorAll(s).length;
      const out = {bars: n('g.abcjs-bar'), repeats: n('g.abcjs-bar [data-name="dots.dot"]') / 2,
        endings: n('.abcjs-ending'), chords: n('.abcjs-chord'), tuplets: n('.abcjs-triplet')};
      div.remove(); return out; })"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.add_script_tag(content=ABCJS.read_text(encoding="utf-8"))
        start = time.perf_counter()
        counts = page.evaluate(script, abcs)
        seconds = time.perf_counter() - start
        browser.close()
    return [{k: int(v) for k, v in c.items()} for c in counts], seconds


def draw_abcm2ps(abcs: list[str]) -> tuple[list[dict[str, int]], float]:
    """Counts of what abcm2ps draws (SVG, one file per tune)."""
    results, seconds = [], 0.0
    with tempfile.TemporaryDirectory() as work:
        for i, abc in enumerate(abcs):
            source, out = Path(work) / f"{i}.abc", Path(work) / f"{i}-"
            source.write_text(abc, encoding="utf-8")
            start = time.perf_counter()
            subprocess.run(["abcm2ps", "-g", "-A", "-q", str(source), "-O", str(out)],
                           capture_output=True, check=False)  # fmt: skip
            seconds += time.perf_counter() - start
            svg = "".join(
                p.read_text(encoding="utf-8") for p in sorted(Path(work).glob(f"{i}-*.svg"))
            )
            texts = re.findall(r"<text x=\"[^\"]*\" y=\"[^\"]*\">([^<]*)</text>", svg)
            chords = set(_CHORD.findall(abc))
            results.append({
                "bars": svg.count('<abc type="B"'),
                "repeats": svg.count('href="#rdots"'),
                "endings": sum(
                    bool(re.fullmatch(r"\d[\d,-]*\.?", t)) and t not in chords for t in texts
                ),
                "chords": sum(t in chords for t in texts),
                "tuplets": -1,
            })  # fmt: skip
    return results, seconds


def _verovio_worker(connection) -> None:
    """Draw each ABC received; send back (counts, seconds). Verovio may crash the process."""
    import verovio

    from tunegen.render.sheet import VEROVIO_OPTIONS

    verovio.enableLog(False)
    toolkit = verovio.toolkit()
    toolkit.setOptions(VEROVIO_OPTIONS)
    while (abc := connection.recv()) is not None:
        start = time.perf_counter()
        toolkit.loadData(abc)
        svg = "".join(toolkit.renderToSVG(p) for p in range(1, toolkit.getPageCount() + 1))
        seconds = time.perf_counter() - start
        forms = re.findall(r'(?:left|right)="(rpt\w+)"', toolkit.getMEI())
        counts = {
            "bars": svg.count('class="barLine"'),
            "repeats": sum(2 if f == "rptboth" else 1 for f in forms),
            "endings": svg.count('class="ending"'),
            "chords": svg.count('class="harm"'),
            "tuplets": svg.count('class="tuplet"'),
        }
        connection.send((counts, seconds))


def draw_verovio(abcs: list[str]) -> tuple[list[dict[str, int]], float]:
    """Counts of what verovio draws, with tunegen's options, in a worker restarted after a crash
    (a crash counts as nothing drawn)."""
    context = multiprocessing.get_context("spawn")
    results, seconds, worker = [], 0.0, None
    for abc in abcs:
        if worker is None:
            parent, child = context.Pipe()
            worker = context.Process(target=_verovio_worker, args=(child,), daemon=True)
            worker.start()
            child.close()  # so that recv() sees the end when the worker dies
        try:
            parent.send(abc)
            counts, took = parent.recv()
            seconds += took
        except (EOFError, OSError):
            counts = dict.fromkeys(KINDS, 0)
            worker.join()
            worker = None
        results.append(counts)
    if worker is not None:
        parent.send(None)
        worker.join()
    return results, seconds


def table(tunes: list[tuple[str, str]]) -> str:
    wanted = [expected(abc) for _, abc in tunes]
    totals = {k: sum(w[k] for w in wanted) for k in KINDS}
    lines = [
        "| engine | tunes drawn right (of 100) | model / human | "
        + " | ".join(f"{k} right ({totals[k]} in ABC)" for k in KINDS)
        + " | seconds for 100 |",
        "|---|---|---|" + "---|" * len(KINDS) + "---|",
    ]
    abcs = [abc for _, abc in tunes]
    for name, draw in (("abcjs 6.7.2", draw_abcjs), ("abcm2ps 8.14", draw_abcm2ps),
                       ("verovio", draw_verovio)):  # fmt: skip
        drawn, seconds = draw(abcs)
        right = [all(d[k] in (-1, w[k]) for k in KINDS) for d, w in zip(drawn, wanted, strict=True)]
        by_source = [sum(r for r, (s, _) in zip(right, tunes, strict=True) if s == source)
                     for source in ("model", "human")]  # fmt: skip
        per_kind = []
        for k in KINDS:
            if any(d[k] == -1 for d in drawn):
                per_kind.append("not counted")
            else:
                ok = sum(d[k] == w[k] for d, w in zip(drawn, wanted, strict=True))
                per_kind.append(f"{ok} tunes")
        lines.append(f"| {name} | {sum(right)} | {by_source[0]} / {by_source[1]} | "
                     + " | ".join(per_kind) + f" | {seconds:.2f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="append the table to this RESULTS.md")
    args = parser.parse_args()
    out = table(tunes_to_draw())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(out)
    if args.out:
        with args.out.open("a", encoding="utf-8") as results:
            results.write(
                f"\n## Sheet music engines, {date.today()}\n\n"
                "`PYTHONPATH=src python benchmarks/sheet_engines.py --out benchmarks/RESULTS.md`"
                f" (load average {load}, 2 cores, shared)\n\n{out}\n"
            )


if __name__ == "__main__":
    main()
