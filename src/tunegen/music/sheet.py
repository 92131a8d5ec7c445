"""ABC tune text -> sheet music as SVG pages, through verovio in a separate worker process.

Verovio crashes the whole process (a segmentation fault) on some malformed ABC, so it runs in a
child process (tunegen.worker): a crash costs that tune its sheet music and a restart, never the
caller, and its message is one line of the tune's report, not noise in the terminal.
"""

from __future__ import annotations

from tunegen.errors import RenderError
from tunegen.worker import Worker

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


_TOOLKIT = None


def _load_verovio() -> None:
    """Worker initializer: one verovio toolkit, its log silenced (it would print every ABC
    problem on stderr)."""
    global _TOOLKIT
    import verovio

    verovio.enableLog(False)
    _TOOLKIT = verovio.toolkit()
    _TOOLKIT.setOptions(VEROVIO_OPTIONS)


def _render_in_worker(abc: str) -> list[str]:
    return svg_pages(_TOOLKIT, abc)


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


def abc_to_svg_pages(abc: str) -> list[str]:
    """Render one tune to SVG pages in a short-lived worker (use SheetRenderer for many)."""
    with SheetRenderer() as renderer:
        renderer.submit(abc)
        return renderer.collect()
