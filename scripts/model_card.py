"""Write MODEL_CARD.md for the bundled model from its checkpoint and its evaluation report.

    python scripts/model_card.py --run runs/ablation/1x512-lr2.5e-4 > MODEL_CARD.md

Called by scripts/bundle_model.sh; every number in the card comes from a file it names.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
import shutil
import sys
from pathlib import Path

from tunegen.data.batches import TuneTexts
from tunegen.models import parameter_count
from tunegen.models.checkpoint import BUNDLED_MODEL, load_checkpoint, read_checkpoint_file
from tunegen.music.abc import tunebook_from_texts
from tunegen.runtime.threads import machine_cores

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from abc2midi_check import score


def percent(value: float | None) -> str:
    return "not measured" if value is None else f"{100 * value:.1f}%"


def style_overlap(style: dict) -> float:
    """Mean overlap of the pitch-class, interval and pitch-range histograms (as
    benchmarks/grammar.py reports it)."""
    return sum(style[name]["overlap"] for name in ("pitch_classes", "intervals", "pitch_range")) / 3


def shares(counts: dict) -> str:
    """The four commonest metres (or keys) of the tunes, each as a share of the tunes and of the
    corpus."""
    tunes, corpus = counts["tunes"], counts["corpus"]
    total, whole = sum(tunes.values()), sum(corpus.values())
    top = sorted(tunes, key=tunes.get, reverse=True)[:4]
    return ", ".join(
        f"{name} {100 * tunes[name] / total:.0f}% ({100 * corpus.get(name, 0) / whole:.0f}%)"
        for name in top
    )


def best_clean_bpc(run: Path) -> float | None:
    """The lowest held-out bits/char on the cleaned validation tunes in the run's log."""
    with (run / "log.csv").open(newline="") as file:
        values = [float(r["val_clean_bpc"]) for r in csv.DictReader(file) if r.get("val_clean_bpc")]
    return min(values) if values else None


def lineage(run: Path) -> list[Path]:
    """The run and the runs it started from (`train --init`), first run first."""
    runs = [run]
    while True:
        parent = read_checkpoint_file(runs[0] / "last.ckpt")["tunegen"].get("finetuned_from")
        if not parent or not (Path(parent["path"]).parent / "log.csv").exists():
            return runs
        runs.insert(0, Path(parent["path"]).parent)


def training_time(runs: list[Path]) -> tuple[float, int]:
    """Seconds (each run folder's `seconds` file, written by bundle_model.sh) and epochs (rows
    of its log.csv) over `runs`."""
    seconds = sum(
        float(x) for run in runs if (run / "seconds").exists()
        for x in (run / "seconds").read_text().split()
    )  # fmt: skip
    epochs = 0
    for run in runs:
        with (run / "log.csv").open(newline="") as file:
            epochs += sum(1 for _ in csv.DictReader(file))
    return seconds, epochs


def chars_per_second(log: Path) -> float:
    """Characters per second over the `sampled N characters in S s (R chars/s)` lines of
    generate: each line's seconds from its rate (S is rounded to 0.1 s; a short tune takes 0.0)."""
    pairs = re.findall(
        r"sampled ([\d,]+) characters in [\d.]+ s \(([\d,]+) chars/s\)", log.read_text()
    )
    chars = [int(n.replace(",", "")) for n, _ in pairs]
    seconds = sum(
        n / float(rate.replace(",", "")) for n, (_, rate) in zip(chars, pairs, strict=True)
    )
    return sum(chars) / seconds


def reading_report(report: str) -> list[str]:
    """The corpus report as bullets: files and tunes, the reasons for dropping, then one line per
    repair, transposition or other count."""
    match = re.match(r"(?P<head>[^(]*?) \((?P<dropped>.*?)\)(?=; |$)(?:; (?P<rest>.*))?$", report)
    if match is None:
        return [f"- {report}"]
    lines = [f"- {match['head']}", f"  - dropped: {match['dropped']}"]
    lines += [f"  - {part}" for part in (match["rest"] or "").split(", ") if part]
    return lines


def preparation(training: dict) -> str:
    """How the training text was prepared, in words."""
    steps = ["read"]
    if not training.get("keep_unclean"):
        steps.append(
            "cleaned by abc2midi's verdicts (a tune whose bars or repeats are wrong is repaired "
            "where the fix is sure, else dropped)"
        )
    if training.get("transpose_all"):
        steps.append("every training tune also added in every other key")
    elif training.get("transpose"):
        steps.append(f"every training tune also added in {', '.join(training['transpose'])}")
    return ", ".join(steps) + "; the held-out tunes stay as they are:"


def card_config(meta: dict) -> dict:
    """The part of the checkpoint the card states exactly (tests compare the two)."""
    training = meta["training"]
    recipe = ("preset", "tokenizer", "mode", "batch_size", "seq_len", "lr", "seed", "corpus")
    return {"model": meta["model"], "training": {key: training[key] for key in recipe}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of the training")
    parser.add_argument("--ablation", type=Path, help="the ablation folder (ABLATION.md, TABLE.md)")
    parser.add_argument(
        "--results", type=Path, help="append the ablation and the results to this RESULTS.md"
    )
    parser.add_argument("--note", default="", help="why this run was chosen, for the card")
    args = parser.parse_args()
    checkpoint = load_checkpoint(BUNDLED_MODEL)
    meta = checkpoint.meta
    report = json.loads((args.run / "sample200-eval" / "report.json").read_text())
    corpus = meta["corpus"]
    runs = lineage(args.run)
    seconds, epochs = training_time(runs)
    size_mb = BUNDLED_MODEL.stat().st_size / 1e6
    lines = [
        "# tunegen bundled model: `folk.ckpt`",
        "",
        "A character-level model of Irish and Scottish folk tunes in ABC notation. "
        "`tunegen generate` uses it when no checkpoint is given.",
        "",
        "## Data",
        f"{corpus['description']}: {preparation(meta['training'])}",
        *reading_report(corpus["report"]),
        f"- training: {corpus['train_tunes']:,} tunes ({corpus['train_chars']:,} characters); "
        f"held out (SHA-1 split): {corpus['val_tunes']:,} tunes ({corpus['val_chars']:,} chars)",
        "- metadata fields (transcribers, sources, notes) removed before training",
        "",
        "## Recipe",
        "- command: `bash scripts/bundle_model.sh` (train, export, sample, evaluate, this card)",
        f"- model: {meta['model']['kind']}, {parameter_count(checkpoint.model):,} parameters, "
        f"{len(checkpoint.vocab)} symbols ({checkpoint.vocab.tokenizer}); weights stored as "
        f"{meta['weights_dtype'].removeprefix('torch.')} ({size_mb:.2f} MB)",
        f"- training: {seconds / 60:.1f} minutes on {args.threads} CPU thread(s) "
        f"(AMD EPYC), {epochs} epochs"
        + (
            f" in {len(runs)} runs ({', '.join(f'`{run.name}`' for run in runs)}), each from "
            "the best checkpoint of the one before (`train --init`)"
            if len(runs) > 1
            else ""
        )
        + "; the checkpoint with the best held-out bits per character is the one shipped",
        "",
        "```json",
        json.dumps(card_config(meta), indent=2),
        "```",
        "",
    ]
    if args.ablation is not None and (args.ablation / "ABLATION.md").exists():
        winner = (
            (args.ablation / "FINAL").read_text().strip()
            if (args.ablation / "FINAL").exists()
            else args.run.name
        )
        lines += [
            "## Ablation",
            f"Each run trained on {args.threads} CPU thread(s) for the minutes in its row; the "
            "held-out bits/char are on the validation tunes as they are (comparable with the "
            "1.757 of the model bundled before issue 14) and on the same tunes cleaned "
            f"(`scripts/ablation_table.py`). The winner is `{winner}`"
            + (", trained on to the time in the recipe above." if (args.ablation / "FINAL").exists()
               else ".")
            + (f" {args.note}" if args.note else ""),
            "",
            (args.ablation / "ABLATION.md").read_text().strip(),
            "",
        ]  # fmt: skip
    clean = best_clean_bpc(args.run)
    lines += [
        "## Results",
        f"- held-out bits per character: **{meta['best_val_bpc']:.3f}** on the held-out tunes "
        "as they are" + (f"; {clean:.3f} on the same tunes cleaned" if clean is not None else ""),
        f"- default sampling temperature: {meta['sampling']['temperature']} for the music"
        + (
            f", {meta['sampling']['header_temperature']} for a tune's header (metre, key, title)"
            if "header_temperature" in meta["sampling"]
            else ""
        )
        + " (set at export; `--temperature` and `--header-temperature` override them)",
        "- 200 tunes from `tunegen generate --num-tunes 200 --seed 0` at that temperature, "
        "scored by `tunegen evaluate --against` the training corpora:",
    ]
    validity, metre, novelty = report["validity"], report["metre"], report["novelty"]
    lines += [
        f"  - valid (music21 and verovio read them): {percent(validity['valid'])}",
        f"  - every bar the right length: {percent(metre['tunes']['every_bar_right'])} "
        f"(the corpora: {percent(metre['corpus']['every_bar_right'])})",
        f"  - copies of a training tune: {percent(novelty['tunes']['copy_rate'])}; median "
        f"longest run shared with a training tune: {percent(novelty['tunes']['median_share'])}"
        f" of the tune (training tunes against each other: "
        f"{percent(novelty['corpus']['median_share'])})",
    ]
    lines.append(
        f"  - style overlap with the corpora (pitch classes, intervals, pitch range): "
        f"{style_overlap(report['style']):.3f}"
    )
    lines.append(f"  - metres, against the corpora's: {shares(report['style']['meter'])}")
    lines.append(f"  - keys, against the corpora's: {shares(report['style']['key'])}")
    if shutil.which("abc2midi"):
        held_out = args.run / "heldout.abc"
        held_out.write_text(tunebook_from_texts(list(TuneTexts(args.run / "corpus-val.txt"))))
        _, corpus_no_error, corpus_bars = score(held_out, 1000)
        lines.append(
            "- abc2midi (the reference converter), 200 tunes each: no error / every bar the "
            "right length"
        )
        for name, label in (("sample200", "grammar-aware sampling (the default)"),
                            ("sample200-free", "`--free` (no grammar)")):  # fmt: skip
            path = args.run / f"{name}.abc"
            if path.exists():
                _, no_error, bars = score(path, 1000)
                lines.append(f"  - {label}: {percent(no_error)} / {percent(bars)}")
        lines.append(
            f"  - the corpora's own held-out tunes: {percent(corpus_no_error)} / "
            f"{percent(corpus_bars)}"
        )
    speed = args.run / "speed"
    if (speed / "batch1.log").exists():
        start, end = (float(x) for x in (speed / "generate10.times").read_text().split())
        lines.append(
            f"- sampling speed on this machine's {machine_cores()} cores: "
            f"{chars_per_second(speed / 'batch1.log'):,.0f} chars/s at batch 1, "
            f"{chars_per_second(speed / 'batch64.log'):,.0f} at batch 64; "
            f"`tunegen generate --num-tunes 10` takes {end - start:.1f} s end to end"
        )
    lines += [
        "",
        "## Limits",
        "- It writes in the styles of its three collections (reels, jigs, hornpipes, airs); "
        "`--meter` and `--key` steer it within them.",
        "- Some samples are not playable ABC, have bars of the wrong length, or stay close to "
        "a training tune; `tunegen generate --keep valid,metre,novel` keeps sampling until "
        "every tune passes the checks chosen.",
    ]
    print("\n".join(lines))
    if args.results is not None:
        append_results(args.results, lines, args.ablation)


def card_sections(card: list[str]) -> str:
    """The card from its data section to its limits, the config block left out, as ### sections
    (what RESULTS.md records of a shipped model)."""
    text = "\n".join(card)
    body = text[text.index("## Data") : text.index("## Limits")]
    body = re.sub(r"```json\n.*?```\n", "", body, flags=re.S)
    return body.strip().replace("## ", "### ")


def append_results(results: Path, card: list[str], ablation: Path | None) -> None:
    """RESULTS.md gets the card's data, recipe (without its config block), ablation and results
    sections, with the date, the machine load and the whole ablation at the end (TABLE.md: the
    winner's row after its longer training)."""
    body = card_sections(card)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    section = [
        f"\n## Bundled model (issue 14, `scripts/bundle_model.sh`), {stamp}, load {load}\n",
        body,
    ]
    if ablation is not None and (ablation / "TABLE.md").exists():
        section += ["", "Every run at the end (the winner trained on):", "",
                    (ablation / "TABLE.md").read_text().strip()]  # fmt: skip
    with results.open("a") as file:
        file.write("\n".join(section) + "\n")


if __name__ == "__main__":
    main()
