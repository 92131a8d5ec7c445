"""render_tunebook and `tunegen render`: files per tune, failures per format, the tunebook page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import BROKEN_ABC, GOLDEN_ABC, one_tune

from tunegen.cli import main
from tunegen.errors import UsageError
from tunegen.music.abc import tunebook_text
from tunegen.music.midi_io import read_midi
from tunegen.render.tunebook import RenderOptions, parse_formats, render_tunebook

VOID = {"meta", "img", "br", "hr", "link", "input", "source"}


class PageChecker(HTMLParser):
    """Collects every src and href, and checks that tags nest properly."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.open: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("src", "href") and value]
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open.pop() != tag:
            self.errors.append(f"</{tag}> does not close the open tag")


def check_page(index: Path) -> list[str]:
    """Parse index.html; return its links after checking the HTML and that each file exists."""
    text = index.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    checker = PageChecker()
    checker.feed(text)
    checker.close()
    assert not checker.errors
    assert checker.open == []
    for link in checker.links:
        url = urlparse(link)
        assert not url.scheme and not url.netloc, f"{link}: not a local file"  # works offline
        if url.path:
            assert (index.parent / unquote(url.path)).is_file(), link
    return checker.links


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, ryans_tunes):
    """Two real tunes, the golden tune and the three broken ones, rendered to all formats."""
    tunes = [*ryans_tunes[1:], one_tune(GOLDEN_ABC)] + [one_tune(t) for t in BROKEN_ABC.values()]
    out = tmp_path_factory.mktemp("book")
    return render_tunebook(tunes, out, RenderOptions(synth="builtin"))


def test_every_good_tune_gets_every_format(rendered):
    names = sorted(path.name for path in rendered.out_dir.iterdir())
    for stem in ("001-7th-regiment-reel", "003-golden-repeat"):
        assert {f"{stem}.abc", f"{stem}.mid", f"{stem}.wav", f"{stem}.svg"} <= set(names)
    assert [rendered.rendered(fmt) for fmt in ("midi", "wav", "svg")] == [3, 3, 3]
    assert rendered.synth == "builtin"


def test_midi_file_plays_the_tune(rendered):
    from conftest import GOLDEN_MELODY

    back = read_midi(rendered.out_dir / "003-golden-repeat.mid")
    assert [(e.pitch, e.start, e.duration) for e in back.events if e.channel == 0] == GOLDEN_MELODY


def test_broken_tunes_keep_their_abc_and_each_format_says_why(rendered):
    broken = {tune.title: tune for tune in rendered.tunes[3:]}
    assert set(broken) == {"Unclosed", "Unknown Key", "Garbage"}
    for tune in broken.values():
        assert (rendered.out_dir / f"{tune.stem}.abc").is_file()
        assert set(tune.failures) == {"midi", "wav", "svg"}
        assert not {"midi", "wav", "svg"} & set(tune.files)
    assert "unknown key 'Xyz'" in broken["Unknown Key"].failures["svg"]
    assert "Bad chord indicator" in broken["Unclosed"].failures["midi"]
    summary = rendered.summary()
    assert "006-garbage: svg failed:" in summary
    assert "midi 3, wav 3, svg 3" in summary


def test_index_is_valid_html_linking_only_files_that_exist(rendered):
    links = check_page(rendered.index)
    assert "003-golden-repeat.wav" in links
    assert "003-golden-repeat.svg" in links
    assert "004-unclosed.abc" in links
    page = rendered.index.read_text(encoding="utf-8")
    assert "unknown key &#x27;Xyz&#x27;" in page  # failures are on the page, escaped
    assert "<audio controls" in page


def test_nothing_is_overwritten_without_force(rendered):
    tunes = [one_tune(GOLDEN_ABC)]
    with pytest.raises(UsageError, match=r"(index\.html|001-golden-repeat\.abc): already exists"):
        render_tunebook(tunes, rendered.out_dir, RenderOptions(formats=("midi",)))
    report = render_tunebook(tunes, rendered.out_dir, RenderOptions(formats=("midi",), force=True))
    assert report.rendered("midi") == 1


def test_a_long_tune_gets_one_svg_per_page(tmp_path):
    line = "|:GABc dedB|dedB dedB|c2ec B2dB|c2A2 A2BA:|\n"
    tune = one_tune("X:1\nT:Long One\nM:4/4\nL:1/8\nK:G\n" + line * 40)
    report = render_tunebook([tune], tmp_path, RenderOptions(formats=("svg",)))
    pages = report.tunes[0].files["svg"]
    assert pages[:2] == ["001-long-one.svg", "001-long-one-2.svg"]
    assert all((tmp_path / name).is_file() for name in pages)
    check_page(report.index)


@pytest.mark.parametrize("text", ["", "midi,pdf", " , "])
def test_bad_format_lists_are_usage_errors(text):
    with pytest.raises(UsageError, match="choose from midi,wav,svg"):
        parse_formats(text)


def test_format_lists_are_cleaned():
    assert parse_formats("SVG, midi,svg") == ("svg", "midi")


def test_cli_renders_a_tunebook(tmp_path, capsys):
    book = tmp_path / "book.abc"
    book.write_text(tunebook_text([one_tune(GOLDEN_ABC), one_tune(BROKEN_ABC["unknown key"])]))
    out = tmp_path / "out"
    code = main(["render", str(book), "--out", str(out), "--formats", "midi,svg", "--no-chords"])
    assert code == 0
    assert {p.suffix for p in out.iterdir()} == {".abc", ".mid", ".svg", ".html"}
    assert {e.channel for e in read_midi(out / "001-golden-repeat.mid").events} == {0}
    printed = capsys.readouterr().out
    assert "midi 1, svg 1" in printed
    assert "002-unknown-key: midi failed: unknown key" in printed
    assert str(out / "index.html") in printed


def test_cli_exit_code_is_2_when_no_tune_renders(tmp_path, capsys):
    book = tmp_path / "broken.abc"
    book.write_text(tunebook_text([one_tune(t) for t in BROKEN_ABC.values()]))
    assert main(["render", str(book), "--out", str(tmp_path / "out"), "--formats", "midi"]) == 2
    assert (tmp_path / "out" / "001-unclosed.abc").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.abc"], "missing.abc: no such file"),
        (["book.abc", "--formats", "mp3"], "--formats 'mp3': choose from midi,wav,svg"),
        (["book.abc", "--synth", "fluidsynth"], "fluidsynth or a General MIDI soundfont"),
    ],
)
def test_cli_user_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth here
    (tmp_path / "book.abc").write_text(GOLDEN_ABC)
    assert main(["render", *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert message in error


def test_an_output_folder_that_is_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(UsageError, match="out: cannot make the output folder"):
        render_tunebook([one_tune(GOLDEN_ABC)], tmp_path / "out", RenderOptions(("midi",)))


def test_a_tune_without_key_is_kept_and_listed_on_the_page(tmp_path):
    book = tmp_path / "mixed.abc"
    book.write_text("X:1\nT:Keyless\nM:4/4\nABcd|\n\nX:2\nT:Fine\nM:4/4\nL:1/8\nK:D\nABcd efga|\n")
    out = tmp_path / "out"
    assert main(["render", str(book), "--formats", "midi", "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "Keyless" in page and "music before the K: field" in page
    assert (out / "001-keyless.abc").exists() and (out / "002-fine.mid").exists()
    assert not (out / "001-keyless.mid").exists()
