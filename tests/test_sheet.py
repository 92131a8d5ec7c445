"""ABC -> SVG pages through abcm2ps (repeats and endings drawn) or verovio (notes drawn, long
tunes paged, crashes contained)."""

from __future__ import annotations

import shutil

import pytest
from conftest import BROKEN_ABC, GOLDEN_ABC

from tunegen.errors import RenderError
from tunegen.render.performance import parse_abc
from tunegen.render.sheet import Abcm2psRenderer, SheetRenderer, abc_to_svg_pages, sheet_renderer


def written_notes(abc: str) -> int:
    """Note heads in the ABC as written (repeats not expanded), grace notes included."""
    from music21 import harmony

    score = parse_abc(abc)
    notes = [n for n in score.flatten().notes if not isinstance(n, harmony.ChordSymbol)]
    return sum(len(n.pitches) for n in notes)


def verovio_pages(abc: str) -> list[str]:
    with SheetRenderer() as renderer:
        renderer.submit(abc)
        return renderer.collect()


needs_abcm2ps = pytest.mark.skipif(not shutil.which("abcm2ps"), reason="apt-get install abcm2ps")


@needs_abcm2ps
def test_abcm2ps_draws_repeats_double_repeats_and_endings():
    assert isinstance(sheet_renderer(), Abcm2psRenderer)
    abc = GOLDEN_ABC.replace('|:"G"GABc', '|:"G"GABc d2 e2::GABc')
    (page,) = abc_to_svg_pages(abc)
    assert page.count('href="#rdots"') == 4  # |: and :| of ending 1, :: as two dot pairs
    assert ">1</text>" in page and ">2</text>" in page  # the endings' numbers
    assert ">D7</text>" in page  # a chord symbol


@needs_abcm2ps
def test_abcm2ps_fails_on_text_without_music():
    with Abcm2psRenderer() as renderer:
        renderer.submit("X:1\nT:Empty\nK:G\n")
        with pytest.raises(RenderError, match="no music"):
            renderer.collect()


def test_svg_has_one_note_per_written_note():
    pages = verovio_pages(GOLDEN_ABC)
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
    pages = verovio_pages("X:1\nT:Long\nM:4/4\nL:1/8\nK:G\n" + line * 40)
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
