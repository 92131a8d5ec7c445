"""Render ABC tunes to MIDI, WAV and SVG sheet music, with a static tunebook page (index.html)."""

from __future__ import annotations

import contextlib
import html
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tunegen.errors import CorpusError, RenderError, Setting, SettingError
from tunegen.music.abc import Tune, check_key, parse_tunebook_leniently, slugify
from tunegen.music.bounds import LIMITS, check_performance, check_tune
from tunegen.music.midi_io import performance_to_midi
from tunegen.render.performance import PlayOptions, abc_to_performance
from tunegen.render.sheet import sheet_renderer
from tunegen.render.synth import choose_synth, render_wav
from tunegen.runtime.fileio import ensure_folder, refuse_overwrite, write_atomically
from tunegen.runtime.worker import Worker

FORMATS = ("midi", "wav", "svg")
EXTENSIONS = {"abc": ".abc", "midi": ".mid", "wav": ".wav", "svg": ".svg"}
INDEX = "index.html"


@dataclass(frozen=True)
class RenderOptions:
    """What to render and how: formats, synthesizer, melody program, chords, overwriting."""

    formats: tuple[str, ...] = FORMATS
    synth: str = "auto"
    play: PlayOptions = field(default_factory=PlayOptions)
    soundfont: Path | None = None
    force: bool = False


@dataclass
class TuneResult:
    """One tune's files by format (file names in the output folder) and failures by format."""

    number: int
    title: str
    stem: str
    abc: str
    files: dict[str, list[str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class RenderReport:
    """Everything a render run wrote and every per-tune, per-format failure."""

    out_dir: Path
    formats: tuple[str, ...]
    synth: str
    tunes: list[TuneResult]

    @property
    def index(self) -> Path:
        return self.out_dir / INDEX

    def rendered(self, fmt: str) -> int:
        """How many tunes were rendered to `fmt`."""
        return sum(fmt in tune.files for tune in self.tunes)

    @property
    def any_rendered(self) -> bool:
        return any(self.rendered(fmt) for fmt in self.formats)

    def summary(self) -> str:
        """A few lines for the terminal: counts per format, failures, where the page is."""
        counts = ", ".join(f"{fmt} {self.rendered(fmt)}" for fmt in self.formats)
        lines = [f"rendered {len(self.tunes)} tunes to {self.out_dir}: {counts}"]
        if "wav" in self.formats:
            lines[0] += f" (synth: {self.synth})"
        for tune in self.tunes:
            lines += [f"  {tune.stem}: {fmt} failed: {why}" for fmt, why in tune.failures.items()]
        lines.append(f"tunebook page: {self.index}")
        return "\n".join(lines)


def parse_formats(text: str) -> tuple[str, ...]:
    """'midi,wav,svg' -> ('midi', 'wav', 'svg'); an unknown or empty list is a UsageError."""
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown or not formats:
        raise SettingError(Setting("formats"), f" {text!r}: choose from {','.join(FORMATS)}")
    return formats


def _outputs(stem: str) -> re.Pattern[str]:
    """File names a tune's stem can produce: the ABC, MIDI, WAV and SVG pages 2, 3..."""
    return re.compile(rf"{re.escape(stem)}(?:-\d+)?\.(?:abc|mid|wav|svg)")


def _check_overwrite(out_dir: Path, stems: Sequence[str]) -> None:
    if not out_dir.is_dir():
        return
    patterns = [_outputs(stem) for stem in stems]
    for path in sorted(out_dir.iterdir()):
        if path.name == INDEX or any(p.fullmatch(path.name) for p in patterns):
            refuse_overwrite(path, force=False)


def _attempt(result: TuneResult, fmt: str, action: Callable[[], list[str]]) -> None:
    """Run one format's rendering; record its files, or its failure without stopping the run."""
    try:
        result.files[fmt] = action()
    except Exception as err:  # one odd tune must never stop a batch of hundreds
        result.failures[fmt] = _why(err)


def _why(err: Exception) -> str:
    """A failure's one-line reason; errors that are not RenderErrors are bugs, so say their type."""
    text = str(err).strip().split("\n", 1)[0]
    return text if isinstance(err, RenderError) else f"unexpected {type(err).__name__}: {text}"


def _write_svgs(out_dir: Path, stem: str, pages: list[str]) -> list[str]:
    names = [f"{stem}{'' if page == 1 else f'-{page}'}.svg" for page in range(1, len(pages) + 1)]
    for name, svg in zip(names, pages, strict=True):
        write_atomically(out_dir / name, svg)
    return names


def _play_files(
    abc: str, out_dir: str, stem: str, options: RenderOptions, synth: str
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """In the play worker: one tune's MIDI and WAV files and WAV failure; raises (for both
    formats) if the tune cannot be played or would play past the limits."""
    performance = abc_to_performance(abc, options.play)
    check_performance(performance)
    midi = performance_to_midi(performance)
    files: dict[str, list[str]] = {}
    failures: dict[str, str] = {}
    if "midi" in options.formats:
        write_atomically(Path(out_dir) / f"{stem}.mid", midi)
        files["midi"] = [f"{stem}.mid"]
    if "wav" in options.formats:
        wav = Path(out_dir) / f"{stem}.wav"
        try:
            render_wav(performance, midi, wav, synth, options.soundfont)
            files["wav"] = [wav.name]
        except Exception as err:  # as in _attempt: the MIDI stands without the WAV
            wav.unlink(missing_ok=True)
            failures["wav"] = _why(err)
    return files, failures


class RenderWorkers:
    """The child processes a render runs its tunes in: music21 and the synthesizer (play), and
    the engraver (sheets: abcm2ps per tune, else a verovio worker). Each call on a tune has the
    tune's time limit; see tunegen.runtime.worker."""

    def __init__(self) -> None:
        self.play = Worker("music21")
        self.sheets = sheet_renderer()

    def close(self) -> None:
        """Stop both children now (a call waiting on one fails at once)."""
        self.play.close()
        self.sheets.close()

    def __enter__(self) -> RenderWorkers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _render_one(
    result: TuneResult,
    out_dir: Path,
    options: RenderOptions,
    synth: str,
    workers: RenderWorkers,
    seconds: float,
) -> None:
    """All requested formats for one tune, each within `seconds`; the SVG is drawn by its
    worker meanwhile. A format that fails leaves no file behind."""
    stem, wanted = result.stem, options.formats
    start = time.monotonic()  # both workers share the tune's time: they run side by side
    if "svg" in wanted:
        workers.sheets.submit(result.abc)
    played = [fmt for fmt in ("midi", "wav") if fmt in wanted]
    if played:
        try:
            files, failures = workers.play.call(
                _play_files, result.abc, str(out_dir), stem, options, synth, timeout=seconds
            )
            result.files.update(files)
            result.failures.update(failures)
        except RenderError as err:  # both formats need the performance
            for fmt in played:
                (out_dir / f"{stem}{EXTENSIONS[fmt]}").unlink(missing_ok=True)
            result.failures.update({fmt: _why(err) for fmt in played})
    if "svg" in wanted:
        left = max(0.1, seconds - (time.monotonic() - start))
        _attempt(result, "svg", lambda: _write_svgs(out_dir, stem, workers.sheets.collect(left)))


def render_saved_tune(
    abc_path: Path, fmt: str, options: RenderOptions, workers: RenderWorkers | None = None
) -> Path:
    """Render one more format ("midi" or "wav") of a tune that a render wrote as STEM.abc,
    beside it as STEM.mid or STEM.wav, within the tune limits and time limit (in `workers`, or
    in new ones); RenderError (one line) if the tune cannot be played."""
    text = abc_path.read_text(encoding="utf-8")
    pairs = parse_tunebook_leniently(text, str(abc_path))
    if not pairs:
        raise RenderError(f"{abc_path.stem}: no tune to play")
    tune, problem = pairs[0]
    if problem:
        raise RenderError(f"{abc_path.stem}: {fmt} failed: {problem}")
    try:
        check_key(tune.field("K") or "")
        check_tune(tune)
    except (ValueError, RenderError) as err:
        raise RenderError(f"{abc_path.stem}: {fmt} failed: {err}") from None
    result = TuneResult(0, "", abc_path.stem, text)
    synth = choose_synth(options.synth, options.soundfont) if fmt == "wav" else ""
    one = RenderOptions((fmt,), options.synth, options.play, options.soundfont, force=True)
    with contextlib.nullcontext(workers) if workers else RenderWorkers() as running:
        _render_one(result, abc_path.parent, one, synth, running, LIMITS.tune_seconds)
    if fmt in result.failures:
        raise RenderError(f"{abc_path.stem}: {fmt} failed: {result.failures[fmt]}")
    return abc_path.parent / result.files[fmt][0]


def render_tunebook(
    tunes: Sequence[Tune],
    out_dir: Path,
    options: RenderOptions,
    problems: Sequence[str | None] = (),
    workers: RenderWorkers | None = None,
    job_seconds: float | None = None,
) -> RenderReport:
    """Render every tune to `options.formats` in `out_dir`, plus index.html; never raises for a
    bad tune (its failures are in the report). UsageError if files would be overwritten.
    `problems[i]`, when given, is why tune i cannot be rendered at all (e.g. it has no K:).

    Each tune is checked against the limits (tunegen.music.bounds) and rendered in `workers`
    (default: new ones for this call) within its time limit; with `job_seconds`, tunes left
    when the whole job's time is up fail with that reason.
    """
    width = max(3, len(str(len(tunes))))
    results = [
        TuneResult(n, tune.title, f"{n:0{width}d}-{slugify(tune.title)}", tune.abc(n))
        for n, tune in enumerate(tunes, 1)
    ]
    if not options.force:
        _check_overwrite(out_dir, [result.stem for result in results])
    synth = choose_synth(options.synth, options.soundfont) if "wav" in options.formats else ""
    ensure_folder(out_dir)
    deadline = None if job_seconds is None else time.monotonic() + job_seconds
    with contextlib.nullcontext(workers) if workers else RenderWorkers() as running:
        for tune, result in zip(tunes, results, strict=True):
            write_atomically(out_dir / f"{result.stem}.abc", result.abc)
            result.files["abc"] = [f"{result.stem}.abc"]
            problem = problems[result.number - 1] if result.number <= len(problems) else None
            left = LIMITS.tune_seconds if deadline is None else deadline - time.monotonic()
            try:
                if problem:
                    raise ValueError(problem)
                if left <= 0:
                    raise ValueError(f"the job's time limit ({job_seconds:g} s) ran out")
                check_key(tune.field("K") or "")
                check_tune(tune)
            except (ValueError, RenderError) as err:
                # a job rendering no format yet (the page's: MIDI and WAV come when downloaded)
                # still says why the tune cannot be played
                failed = options.formats or ("midi", "wav")
                result.failures.update({fmt: str(err) for fmt in failed})
                continue
            seconds = min(LIMITS.tune_seconds, left)
            _render_one(result, out_dir, options, synth, running, seconds)
    report = RenderReport(out_dir, options.formats, synth, results)
    write_atomically(report.index, tunebook_page(report))
    return report


def render_abc_text(
    text: str,
    out_dir: Path,
    options: RenderOptions,
    source: str = "<text>",
    workers: RenderWorkers | None = None,
    job_seconds: float | None = None,
) -> RenderReport:
    """Render every tune of an ABC tunebook's text, keeping tunes that cannot be normalised
    (their failures are in the report). CorpusError if the text has no tune (no X: line)."""
    pairs = parse_tunebook_leniently(text, source)
    if not pairs:
        raise CorpusError(f"{source}: no tunes to render (no X: line)")
    tunes, problems = [tune for tune, _ in pairs], [problem for _, problem in pairs]
    return render_tunebook(tunes, out_dir, options, problems, workers, job_seconds)


_STYLE = """
body { font-family: Georgia, serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
section { border-top: 1px solid #ccc; padding: 1rem 0; }
img.sheet { width: 100%; background: #fff; }
audio { width: 100%; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; }
.failure { color: #a00; }
nav a { margin-right: .5rem; }
"""


def _tune_section(tune: TuneResult) -> str:
    e = html.escape
    parts = [f'<section id="{e(tune.stem)}">', f"<h2>{tune.number}. {e(tune.title)}</h2>"]
    parts += [
        f'<img class="sheet" src="{quote(n)}" alt="{e(tune.title)}, sheet music">'
        for n in tune.files.get("svg", [])
    ]
    parts += [
        f'<audio controls preload="none" src="{quote(n)}"></audio>'
        for n in tune.files.get("wav", [])
    ]
    parts += [
        f'<p class="failure">{e(fmt)} failed: {e(why)}</p>' for fmt, why in tune.failures.items()
    ]
    links = [
        f'<a href="{quote(n)}" download>{e(n)}</a>' for names in tune.files.values() for n in names
    ]
    parts.append(f"<nav>{' '.join(links)}</nav>")
    parts.append(f"<details><summary>ABC</summary><pre>{e(tune.abc)}</pre></details>")
    parts.append("</section>")
    return "\n".join(parts)


def tunebook_page(report: RenderReport) -> str:
    """The static tunebook page: works opened from disk, with no server and no internet."""
    counts = ", ".join(f"{fmt} {report.rendered(fmt)}" for fmt in report.formats)
    contents = "".join(
        f'<li><a href="#{html.escape(t.stem)}">{html.escape(t.title)}</a></li>'
        for t in report.tunes
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8"><title>Tunebook</title>',
            f"<style>{_STYLE}</style></head>",
            "<body>",
            f"<h1>Tunebook</h1><p>{len(report.tunes)} tunes; rendered: {html.escape(counts)}</p>",
            f"<ol>{contents}</ol>",
            *(_tune_section(tune) for tune in report.tunes),
            "</body>",
            "</html>",
            "",
        ]
    )
