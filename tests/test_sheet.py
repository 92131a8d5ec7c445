"""ABC -> SVG pages through verovio: notes drawn, long tunes paged, crashes contained."""

from __future__ import annotations

import pytest
from conftest import BROKEN_ABC, GOLDEN_ABC

from tunegen.errors import RenderError
from tunegen.music.performance import parse_abc
from tunegen.music.sheet import SheetRenderer, abc_to_svg_pages


def written_notes(abc: str) -> int:
    """Note heads in the ABC as written (repeats not expanded), grace notes included."""
    from music21 import harmony

    score = parse_abc(abc)
    notes = [n for n in score.flatten().notes if not isinstance(n, harmony.ChordSymbol)]
    return sum(len(n.pitches) for n in notes)


def test_svg_has_one_note_per_written_note():
    pages = abc_to_svg_pages(GOLDEN_ABC)
    assert len(pages) == 1
    assert pages[0].startswith("<svg") or "<svg" in pages[0][:200]
    assert pages[0].count('class="note"') == 11 == written_notes(GOLDEN_ABC)


def test_real_tunes_draw_every_note(ryans_tunes, cuckoos_nest):
    # Not ryans_tunes[0]: music21 plays "(G>c/B/)" in its bar 7 with one B too many.
    with SheetRenderer() as renderer:
        for number, tune in enumerate([*ryans_tunes[1:], cuckoos_nest], 1):
            renderer.submit(tune.abc(number))
            drawn = sum(page.count('class="note"') for page in renderer.collect())
            assert drawn == written_notes(tune.abc(number)), tune.title


def test_a_long_tune_gets_several_pages():
    line = "|:GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA:|\n"
    pages = abc_to_svg_pages("X:1\nT:Long\nM:4/4\nL:1/8\nK:G\n" + line * 40)
    assert len(pages) > 1
    assert sum(page.count('class="note"') for page in pages) == 40 * (8 + 8 + 6 + 5)


def test_broken_abc_fails_one_tune_and_the_worker_goes_on():
    with SheetRenderer() as renderer:
        for text in (BROKEN_ABC["garbage"], BROKEN_ABC["unclosed chord"]):
            renderer.submit(text)  # verovio 6 crashes on the garbage: a new worker takes over
            with pytest.raises(RenderError):
                renderer.collect()
        renderer.submit(GOLDEN_ABC)
        assert renderer.collect()
