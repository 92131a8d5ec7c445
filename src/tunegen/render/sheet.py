"""ABC tune text -> sheet music as SVG: Debian's abcm2ps where installed, else verovio.

abcm2ps draws what the ABC says (repeats, `::`, first and second endings, tuplets, grace notes,
chord symbols): 82 of 100 tunes drawn right against verovio's 51, which drops `::` and some
endings (benchmarks/sheet_engines.py, RESULTS.md). It runs as a subprocess per tune, with a time
limit. Verovio crashes the whole process (a segmentation fault) on some malformed ABC, so it runs
in a child process (tunegen.runtime.worker): a crash costs that tune its sheet music and a
restart, never the caller, and its message is one line of the tune's report, not noise in the
terminal.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tunegen.errors import RenderError
from tunegen.runtime.worker import Worker

TIMEOUT_SECONDS = 60.0
# A4 pages at 40% scale, with the page height cut to the music and no verovio footer.
VEROVIO_OPTIONS = {
    "inputFrom": "abc",
    "pageWidth": 2100,
    "pageHeight": 2970,
    "scale": 40,
    "adjustPageHeight": True,
    "footer": "none",
    "breaks": "auto",
}


def svg_pages(toolkit, abc: str) -> list[str]:
    """Render one ABC tune with a verovio toolkit: one SVG string per page."""
    if not toolkit.loadData(abc):
        raise RenderError("verovio could not read the ABC")
    pages = [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]
    if not any('class="note"' in page for page in pages):
        raise RenderError("verovio found no notes in the ABC")
    return pages


@functools.cache
def verovio_toolkit() -> Any:
    """This process's verovio toolkit, made on first use with its log silenced (it would print
    every ABC problem on stderr) and the page options set; None if verovio is not installed."""
    try:
        import verovio
    except ImportError:
        return None
    verovio.enableLog(verovio.LOG_OFF)
    toolkit = verovio.toolkit()
    toolkit.setOptions(VEROVIO_OPTIONS)
    return toolkit


def _load_verovio() -> None:
    """Worker initializer: the toolkit is made before the first tune arrives."""
    if verovio_toolkit() is None:
        raise RenderError("verovio is not installed")


def _render_in_worker(abc: str) -> list[str]:
    return svg_pages(verovio_toolkit(), abc)


class SheetRenderer:
    """A verovio worker process; submit a tune, then collect its pages (pipelined with playback)."""

    def __init__(self, timeout: float = TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._worker = Worker("verovio", _load_verovio)

    def submit(self, abc: str) -> None:
        """Send one tune to the worker, starting it if needed."""
        self._worker.send(_render_in_worker, abc)

    def collect(self, timeout: float | None = None) -> list[str]:
        """The SVG pages of the tune submitted last; RenderError if verovio failed, crashed
        (the reason is the worker's last stderr line) or ran past the time limit."""
        return self._worker.receive(self.timeout if timeout is None else timeout)

    def close(self) -> None:
        """Stop the worker."""
        self._worker.close()

    def __enter__(self) -> SheetRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# abcm2ps reports every oddity as an "error" and draws on (a bad tie, a stray letter); these
# mean that it could not read the notes themselves, so its drawing would mislead.
UNREADABLE = {"Not a note", "Chord not closed", "EOLN in grace note sequence",
              "Bad character in grace note sequence"}  # fmt: skip
_ABCM2PS_ERROR = re.compile(r"error: ([^\n]*)")


class Abcm2psRenderer:
    """abcm2ps, one run per tune (about 30 ms); the same submit/collect calls as SheetRenderer."""

    def __init__(self, program: str = "abcm2ps") -> None:
        self.program = program
        self._abc: str | None = None

    def submit(self, abc: str) -> None:
        """Remember one tune; it is drawn by collect()."""
        self._abc = abc

    def collect(self, timeout: float | None = None) -> list[str]:
        """The tune's SVG pages; RenderError if abcm2ps fails, runs past `timeout` seconds
        (default TIMEOUT_SECONDS) or draws no note."""
        assert self._abc is not None, "collect() before submit()"
        seconds = TIMEOUT_SECONDS if timeout is None else timeout
        with tempfile.TemporaryDirectory(prefix="tunegen-abcm2ps-") as work:
            source = Path(work) / "tune.abc"
            source.write_text(self._abc, encoding="utf-8")
            try:  # -v: SVG, one file per page; -q: no chatter
                run = subprocess.run(
                    [self.program, "-v", "-q", str(source), "-O", str(Path(work) / "tune")],
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=seconds,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise RenderError(f"abcm2ps took over {seconds:.0f} s") from None
            pages = [p.read_text(encoding="utf-8") for p in sorted(Path(work).glob("tune*.svg"))]
        unreadable = [m for m in _ABCM2PS_ERROR.findall(run.stderr) if m in UNREADABLE]
        if unreadable:
            raise RenderError(f"abcm2ps could not read the music: {unreadable[0]}")
        if not any("<use" in page for page in pages):  # notes and clefs are <use> of glyphs
            raise RenderError("abcm2ps found no music in the ABC")
        return pages

    def close(self) -> None:
        self._abc = None

    def __enter__(self) -> Abcm2psRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def sheet_renderer() -> Abcm2psRenderer | SheetRenderer:
    """The best engraver installed: abcm2ps (draws repeats and endings), else verovio."""
    program = shutil.which("abcm2ps")
    return Abcm2psRenderer(program) if program else SheetRenderer()


def abc_to_svg_pages(abc: str) -> list[str]:
    """Render one tune to SVG pages with the best engraver installed."""
    with sheet_renderer() as renderer:
        renderer.submit(abc)
        return renderer.collect()
