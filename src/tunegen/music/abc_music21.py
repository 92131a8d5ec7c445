"""music21's reading of ABC, in one place: every tune is read as ABC 2.1, beams optional."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

# music21 reads ABC without a version line as ABC 1.3, where an accidental holds for one note;
# in ABC 2.1 (section 4.2) it holds to the end of the bar, for every octave of the letter, as
# players and abc2midi read it.
ABC_VERSION_LINE = "%abc-2.1\n"

_BEAMING = threading.local()  # .skip: this thread parses without beams
_SWITCH_LOCK = threading.Lock()
_switch_installed = False


def _install_beaming_switch() -> None:
    """Once per process: music21's Part.makeBeams asks a per-thread flag whether to beam.

    Setting and deleting the method around each parse (as before) broke a render running at
    the same time in another thread ("type object 'Part' has no attribute 'makeBeams'").
    """
    global _switch_installed
    with _SWITCH_LOCK:
        if _switch_installed:
            return
        from music21 import stream

        def make_beams(self, *args, **kwargs):
            if getattr(_BEAMING, "skip", False):
                return None if kwargs.get("inPlace") else self
            return stream.Stream.makeBeams(self, *args, **kwargs)

        stream.Part.makeBeams = make_beams  # type: ignore[method-assign]
        _switch_installed = True


@contextlib.contextmanager
def without_beaming() -> Iterator[None]:
    """In this thread, music21's ABC import skips beaming: most of its run time, and playing
    or checking a tune needs no beams."""
    _install_beaming_switch()
    before = getattr(_BEAMING, "skip", False)
    _BEAMING.skip = True
    try:
        yield
    finally:
        _BEAMING.skip = before


def music21_score(text: str, beams: bool = True):  # -> music21 Score; music21 is slow to import
    """One ABC tune read by music21 as ABC 2.1; raises whatever music21 raises on bad ABC."""
    from music21 import converter

    with contextlib.nullcontext() if beams else without_beaming():
        return converter.parse(ABC_VERSION_LINE + text, format="abc")
