"""How often tunegen's bar check gives abc2midi's verdict, per tune, on generated and human tunes.

    python benchmarks/abc2midi_agreement.py generated.abc [more.abc ...] [--corpora]
                                            [--random N] [--record]

For each set, every tune is judged alone by `abc2midi -c` (the reference converter) and by
`tunegen.music.metre.check_tune`, on the same text (the corpora as tunegen reads them:
normalised, one tune per `X:`), and with `--random N` on N random tunes (seeded: notes,
rests, chords, ties, broken rhythm, tuplets, grace notes, decorations, chord symbols and bar
lines thrown together, text no model or book writes). Two verdicts per tune: no error; no error
and every bar right.
Prints the agreement of each verdict and its confusion counts (abc2midi yes/no x check yes/no);
`--record` appends the table, with the date, command and machine load, to benchmarks/RESULTS.md.
Asserts nothing. Needs Debian's `abcmidi` package.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import date
from pathlib import Path

from tunegen.music import abc2midi
from tunegen.music.abc import bundled_corpus_files, read_corpus
from tunegen.music.metre import check_tune

CORPORA = ("oneills1850", "ryansMammoth", "airdsAirs", "miscFolk", "essenFolksong")
RESULTS = Path(__file__).with_name("RESULTS.md")


def corpus_texts(name: str, limit: int) -> list[str]:
    """The tunes of a bundled music21 collection, as tunegen reads them, one ABC text each."""
    corpus = read_corpus([str(path) for path in bundled_corpus_files(name)])
    return [tune.abc(n) for n, tune in enumerate(corpus.tunes[:limit], 1)]


def random_tunes(count: int, seed: int) -> list[str]:
    """`count` random tunes (the same for a seed), drawn with odds that keep about a fifth of
    them free of abc2midi errors. Their bars are of random lengths: they exercise the no-error
    verdict (and the bar check's repeats and carries), not every-bar-right."""
    rng = random.Random(seed)
    notes, lengths = "CDEFGABcdefgab", ["", "", "", "", "2", "2", "3", "4", "/", "3/2", "6"]
    decorations = [""] * 40 + list(".~THuvMPSOLR") + ["!trill!", "!fermata!", "!roll!"]

    def pitch() -> str:
        note = rng.choice(notes)
        octave = rng.choice(["", "", "", "", "," if note.isupper() else "'"])
        return rng.choice(["", "", "", "", "", "", "", "", "^", "_", "="]) + note + octave

    def note(length: str | None = None) -> str:
        length = rng.choice(lengths) if length is None else length
        return rng.choice(decorations) + pitch() + length

    def item() -> str:
        r, length = rng.random(), rng.choice(lengths)
        if r < 0.50:
            return note()
        if r < 0.55:  # a chord, a note of it staccato or tied now and then
            inner = "".join(
                rng.choice(["", "", "", "", "", "."]) + pitch() + rng.choice([length, length, "2"])
                + rng.choice(["", "", "", "", "-"])
                for _ in range(rng.randint(1, 3))
            )  # fmt: skip
            return rng.choice(["", "", "", "", ".", "~"]) + f"[{inner}]" + rng.choice(["", "2"])
        if r < 0.60:
            return rng.choice("zx") + length
        if r < 0.66:  # a tie, over a bar line now and then, onto a decorated note
            tied, gap = pitch(), rng.choice(["", "", "|", " "])
            onto = rng.choice(["", "", "", "", ".", "T", "H"])
            return f"{rng.choice(decorations)}{tied}{length}-{gap}{onto}{tied}{rng.choice(lengths)}"
        if r < 0.73:
            pair = [rng.choice(["", "", "", "", ".", "T", "H", "~"]) + pitch() for _ in "ab"]
            return pair[0] + length + rng.choice([">", "<", ">>"]) + pair[1] + length
        if r < 0.77:
            return "(3" + note("") + note("") + note("")
        if r < 0.80:
            return "{" + pitch() + rng.choice(["", pitch()]) + "}" + note()
        if r < 0.84:
            return "(" + note() + note() + ")"
        if r < 0.87:
            return '"' + rng.choice(["G", "D7", "Am", "C"]) + '"' + note()
        return " "

    tunes = []
    for number in range(1, count + 1):
        body, open_repeat = [], False
        for _ in range(rng.randint(2, 12)):
            body.append("".join(item() for _ in range(rng.randint(1, 7))))
            bar = rng.choice(["|"] * 30 + ["||", "|:", ":|", "::", "|]", "[|"])
            if bar == "|:" and open_repeat:
                bar = "|"
            open_repeat = bar in ("|:", "::") or (open_repeat and bar != ":|")
            body.append(bar + ("\n" if rng.random() < 0.2 else ""))
        if open_repeat:
            body.append("A:|")
        metre = rng.choice(["4/4", "3/4", "6/8", "2/4", "C", "9/8", "C|", "12/8", "3/8", "2/2"])
        unit = rng.choice(["1/8", "1/8", "1/16", "1/4"])
        extra = rng.choice(["", "", "", "R:hornpipe\n", "Q:1/4=120\n", "V:1\n"])
        key = rng.choice(["G", "D", "Am", "F", "Bb", "Edor"])
        tunes.append(
            f"X:{number}\nT:random\nM:{metre}\nL:{unit}\n{extra}K:{key}\n{''.join(body)}\n"
        )
    return tunes


def agreement(texts: list[str]) -> dict[str, object]:
    """Both verdicts of abc2midi and of the check per tune, counted."""
    oracle = abc2midi.check_tunes(texts)
    started = time.perf_counter()
    mine = [check_tune(text) for text in texts]
    seconds = time.perf_counter() - started
    counts: dict[str, object] = {"tunes": len(texts), "check_s": seconds}
    for verdict in ("no_error", "every_bar_right"):
        pairs = [
            (getattr(o, verdict), getattr(m, verdict)) for o, m in zip(oracle, mine, strict=True)
        ]
        counts[verdict] = {
            "abc2midi": sum(o for o, _ in pairs),
            "check": sum(m for _, m in pairs),
            "agree": sum(o == m for o, m in pairs),
            "yes_no": sum(o and not m for o, m in pairs),  # abc2midi passes, the check fails
            "no_yes": sum(m and not o for o, m in pairs),  # the check passes, abc2midi fails
        }
    return counts


def table(rows: list[tuple[str, dict]]) -> str:
    lines = [
        "| set | tunes | abc2midi no error | check | agree | abc2midi every bar right | check "
        "| agree | confusion (no error; bars): abc2midi yes, check no / abc2midi no, check yes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, c in rows:
        n = max(c["tunes"], 1)
        e, b = c["no_error"], c["every_bar_right"]
        lines.append(
            f"| {name} | {c['tunes']} | {e['abc2midi'] / n:.1%} | {e['check'] / n:.1%} "
            f"| **{e['agree'] / n:.1%}** | {b['abc2midi'] / n:.1%} | {b['check'] / n:.1%} "
            f"| **{b['agree'] / n:.1%}** | {e['yes_no']} / {e['no_yes']}; "
            f"{b['yes_no']} / {b['no_yes']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="ABC tunebooks (e.g. generated)")
    parser.add_argument("--corpora", action="store_true", help="also the bundled collections")
    parser.add_argument("--limit", type=int, default=100_000, help="tunes per set at most")
    parser.add_argument("--random", type=int, default=0, help="also N random tunes (seed 1)")
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not abc2midi.available():
        sys.exit("abc2midi is not installed (Debian: apt-get install abcmidi)")
    sets = [
        (path.name, abc2midi.split_tunes(path.read_text(errors="replace"))) for path in args.files
    ]
    if args.corpora:
        sets += [(name, corpus_texts(name, args.limit)) for name in CORPORA]
    if args.random:
        sets.append(("random tunes (seed 1)", random_tunes(args.random, seed=1)))
    load = os.getloadavg()
    rows = [(name, agreement(texts[: args.limit])) for name, texts in sets]
    text = table(rows)
    speed = ", ".join(
        f"{name}: {c['check_s'] / max(c['tunes'], 1) * 1e3:.1f} ms" for name, c in rows
    )
    print(text)
    print(f"check time per tune: {speed}")
    if args.record:
        command = "python benchmarks/abc2midi_agreement.py " + " ".join(sys.argv[1:])
        RESULTS.open("a", encoding="utf-8").write(
            f"\n## Bar check against abc2midi (`abc2midi_agreement.py`, issue 13)\n\n"
            f"```bash\n{command}\n```\n\n{date.today()}, {platform.processor() or 'CPU'}, "
            f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the start; abc2midi "
            f"(abcmidi 2023-02-08) `-c` on each tune alone.\n\n{text}\n\n"
            f"Check time per tune (whole-tune reads, busy machine): {speed}.\n"
        )


if __name__ == "__main__":
    main()
