"""Write an evaluation report as JSON, a Markdown summary and PNG histograms."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from tunegen.evaluation.style import DENSITY_BINS, MAX_INTERVAL
from tunegen.runtime.fileio import ensure_folder, refuse_overwrite, write_atomically

PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
PLOTS = {  # report["style"] key or "metre" -> (file name, title, x labels or None for numbers)
    "pitch_classes": ("pitch_classes.png", "Pitch classes", PITCH_NAMES),
    "intervals": ("intervals.png", "Intervals (semitones)", None),
    "pitch_range": ("pitch_range.png", "Pitch range per tune (semitones)", None),
    "note_density": ("note_density.png", "Notes per quarter note", None),
    "metre": ("metre_share.png", "Share of bars of the right length, per tune", None),
}


def _percent(value: float | None) -> str:
    return "not measured" if value is None else f"{100 * value:.1f}%"


def headline(report: dict) -> list[str]:
    """The main numbers, one per line: validity, metre, copies and style overlaps."""
    lines = [
        f"tunes: {report['tunes']['count']} from {report['tunes']['source']}, "
        f"corpus: {report['corpus']['count']} from {report['corpus']['source']}"
    ]
    validity = report["validity"]
    if validity is not None:
        lines.append(
            f"valid: {_percent(validity['valid'])} (music21 {_percent(validity['music21'])}, "
            f"verovio {_percent(validity['verovio'])})"
        )
    metre = report["metre"]
    if metre is not None:
        lines.append(
            f"every bar right: {_percent(metre['tunes']['every_bar_right'])} of tunes "
            f"(corpus {_percent(metre['corpus']['every_bar_right'])})"
        )
    novelty = report["novelty"]
    lines.append(
        f"copies: {_percent(novelty['tunes']['copy_rate'])}, median shared run "
        f"{_percent(novelty['tunes']['median_share'])} of a tune "
        f"(corpus vs itself {_percent(novelty['corpus']['copy_rate'])}, "
        f"{_percent(novelty['corpus']['median_share'])})"
    )
    overlaps = ", ".join(f"{name} {part['overlap']:.2f}" for name, part in report["style"].items())
    lines.append(f"style overlap with the corpus (1 = same): {overlaps}")
    return lines


def markdown(report: dict) -> str:
    """The report as a Markdown summary with tables, linking the PNG plots."""
    out = ["# Evaluation", "", *[f"- {line}" for line in headline(report)], ""]
    if report["metre"] is None:
        out += ["Metre and structure are measured on ABC input only.", ""]
    else:
        out += [
            "## Metre",
            "",
            "| | tunes checked | every bar right | bars right |",
            "|---|---|---|---|",
        ]
        for side in ("tunes", "corpus"):
            part = report["metre"][side]
            out.append(
                f"| {side} | {part['tunes_checked']} | {_percent(part['every_bar_right'])}"
                f" | {_percent(part['bars_right'])} |"
            )
        out += ["", "## Structure (means)", "", "| | bars | parts | repeats |", "|---|---|---|---|"]
        for side in ("tunes", "corpus"):
            part = report["structure"][side]
            out.append(f"| {side} | {part['bars']} | {part['parts']} | {part['repeats']} |")
        out.append("")
    out += [
        "## Novelty",
        "",
        "| tune | title | nearest corpus tune | shared run | share | copy |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted(report["novelty"]["per_tune"], key=lambda r: -r["share"])[:20]:
        title, nearest = (str(row[key]).replace("|", "\\|") for key in ("title", "nearest"))
        out.append(
            f"| {row['tune']} | {title} | {nearest} | "
            f"{row['run']}/{row['notes']} | {_percent(row['share'])} | "
            f"{'yes' if row['copy'] else ''} |"
        )
    out += ["", "## Style", "", "| statistic | overlap with corpus |", "|---|---|"]
    out += [f"| {name} | {part['overlap']:.3f} |" for name, part in report["style"].items()]
    if report["validity"] and report["validity"]["failures"]:
        out += ["", "## First errors of invalid tunes", ""]
        out += [f"- {f['tune']}: {f['error']}" for f in report["validity"]["failures"][:20]]
    out += ["", *[f"![{PLOTS[name][1]}]({PLOTS[name][0]})" for name in _plots(report)], ""]
    return "\n".join(out)


def _plot(path: Path, title: str, ours: list, theirs: list, labels: list[str]) -> None:
    """Normalised histograms of the tunes and the corpus, side by side."""
    ours_arr, theirs_arr = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    x = np.arange(len(labels))
    figure, axes = plt.subplots(figsize=(max(6.0, 0.3 * len(labels)), 3.5))
    for offset, counts, name in ((-0.2, ours_arr, "tunes"), (0.2, theirs_arr, "corpus")):
        total = counts.sum() or 1.0
        axes.bar(x + offset, counts / total, width=0.4, label=name)
    step = max(1, len(labels) // 16)
    axes.set_xticks(x[::step], labels[::step])
    axes.set_title(title)
    axes.set_ylabel("share")
    axes.legend()
    figure.tight_layout()
    write_atomically(path, lambda partial: figure.savefig(partial, dpi=80, format="png"))
    plt.close(figure)


def _plot_labels(name: str, size: int) -> list[str]:
    if name == "intervals":
        return [str(i) for i in range(-MAX_INTERVAL, MAX_INTERVAL + 1)]
    if name == "note_density":
        return [f"{edge:g}" for edge in DENSITY_BINS[:-1]]
    if name == "metre":
        return [f"{edge:.2f}" for edge in np.linspace(0, 1, size + 1)[:-1]]
    return [str(i) for i in range(size)]


def _plots(report: dict) -> list[str]:
    """The PLOTS this report has data for (metre only for ABC input)."""
    return [name for name in PLOTS if name in report["style"] or report.get(name) is not None]


def _plot_data(report: dict, name: str) -> tuple[list, list]:
    if name == "metre":
        metre = report["metre"]
        return metre["tunes"]["share_histogram"], metre["corpus"]["share_histogram"]
    return report["style"][name]["tunes"], report["style"][name]["corpus"]


def write_report(report: dict, folder: Path, force: bool = False) -> list[Path]:
    """Write report.json, report.md and the PNGs to `folder`; existing files need `force`."""
    names = _plots(report)
    paths = [folder / "report.json", folder / "report.md", *(folder / PLOTS[n][0] for n in names)]
    refuse_overwrite(paths, force)
    ensure_folder(folder)
    write_atomically(paths[0], json.dumps(report, indent=1) + "\n")
    write_atomically(paths[1], markdown(report))
    for name in names:
        file, title, labels = PLOTS[name]
        ours, theirs = _plot_data(report, name)
        _plot(folder / file, title, ours, theirs, labels or _plot_labels(name, len(ours)))
    return paths
