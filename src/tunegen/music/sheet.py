"""ABC tune text -> sheet music as SVG pages, through verovio in a separate worker process.

Verovio crashes the whole process (a segmentation fault) on some malformed ABC, so it runs in a
child process: a crash costs that tune its sheet music and a restart, never the caller.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection

from tunegen.errors import RenderError

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


def _serve(connection: Connection) -> None:
    """Worker loop: receive ABC texts, send back ("ok", pages) or ("error", message)."""
    import verovio

    verovio.enableLog(False)  # it would print every ABC problem on stderr
    toolkit = verovio.toolkit()
    toolkit.setOptions(VEROVIO_OPTIONS)
    while (abc := connection.recv()) is not None:
        try:
            connection.send(("ok", svg_pages(toolkit, abc)))
        except RenderError as err:
            connection.send(("error", str(err)))


class SheetRenderer:
    """A verovio worker process; submit a tune, then collect its pages (pipelined with playback)."""

    def __init__(self) -> None:
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        child.close()
        self._connection = parent
        return parent

    def submit(self, abc: str) -> None:
        """Send one tune to the worker, starting it if needed."""
        connection = self._connection or self._start()
        try:
            connection.send(abc)
        except OSError:  # the worker died on the previous tune: start another
            self.close()
            self._start().send(abc)

    def collect(self) -> list[str]:
        """The SVG pages of the tune submitted last; RenderError if verovio failed or crashed."""
        assert self._connection is not None, "collect() before submit()"
        try:
            if not self._connection.poll(TIMEOUT_SECONDS):
                self.close()
                raise RenderError(f"verovio took over {TIMEOUT_SECONDS:.0f} s")
            status, payload = self._connection.recv()
        except (EOFError, OSError) as err:
            self.close()
            raise RenderError("verovio crashed on this tune") from err
        if status != "ok":
            raise RenderError(payload)
        return payload

    def close(self) -> None:
        """Stop the worker (politely if it is alive)."""
        if self._connection is not None:
            with contextlib.suppress(OSError):  # the worker may be dead already
                self._connection.send(None)
            self._connection.close()
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._process = self._connection = None

    def __enter__(self) -> SheetRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def abc_to_svg_pages(abc: str) -> list[str]:
    """Render one tune to SVG pages in a short-lived worker (use SheetRenderer for many)."""
    with SheetRenderer() as renderer:
        renderer.submit(abc)
        return renderer.collect()
