"""ABC corpus reading: splitting, normalisation, bad input, splits and tunebook round trips."""

from __future__ import annotations

import time

import pytest

from tunegen.errors import CorpusError
from tunegen.music.abc import (
    NON_MUSIC_FIELDS,
    normalise_tune,
    parse_tunebook,
    read_abc_file,
    read_corpus,
    slugify,
    split_train_val,
    tunebook_from_texts,
    tunebook_text,
)

MESSY = (
    "% a tunebook comment\r\n"
    "X: 7\r\n"
    "K: G\r\n"  # K before the others: must move last
    "Z: someone@example.org\r\n"
    "T:  The   Test  Reel \r\n"
    "M: 4/4\r\n"
    "R: reel\r\n"
    "L: 1/8\r\n"
    "|:GABc  dBAG|  % trailing comment\r\n"
    "%% a directive line\r\n"
    "FGAB\tcAFD:|\r\n"
)


def test_oneills_is_read_whole_and_normalised(oneills):
    assert oneills.report.read == 2009
    assert oneills.report.kept >= 2000
    for tune in oneills.tunes:
        keys = [key for key, _ in tune.header]
        assert keys[-1] == "K"
        assert not NON_MUSIC_FIELDS & set(keys)
        assert "@" not in tune.text  # transcribers' e-mail addresses live in dropped Z: fields
    first = oneills.tunes[0]
    assert [k for k, _ in first.header] == ["X", "T", "M", "L", "K"]
    assert first.title == "The Enchanted Valley"
    assert first.body[0].startswith("G3-A (Bcd=e) |")


def test_every_bundled_corpus_and_combinations_read():
    both = read_corpus(["ryansMammoth+airdsAirs"])
    assert both.report.files == 1059 + 6
    assert both.report.kept > 2000
    assert both.description == "ryansMammoth+airdsAirs"


def test_normalise_orders_header_and_cleans_whitespace():
    tunes, report = parse_tunebook(MESSY, "messy.abc")
    assert report.kept == 1
    assert (
        tunes[0].text == "T:The Test Reel\nM:4/4\nL:1/8\nR:reel\nK:G\n|:GABc dBAG|\nFGAB cAFD:|\n"
    )
    kept, _ = parse_tunebook(MESSY, "messy.abc", keep_metadata=True)
    assert kept[0].field("Z") == "someone@example.org"


def test_tune_text_round_trip(oneills):
    for tune in oneills.tunes[:200]:
        again, report = parse_tunebook(tune.abc(1))
        assert report.kept == 1 and again[0].text == tune.text and again[0].field("X") == "1"


def test_tunebook_text_round_trip(oneills):
    book = tunebook_text(oneills.tunes[:50])
    again, _ = parse_tunebook(book)
    assert [t.text for t in again] == [t.text for t in oneills.tunes[:50]]


def test_tunes_without_key_or_music_are_dropped_with_reasons():
    text = (
        "X:1\nT:No key\nM:4/4\n\nX:2\nT:No music\nK:D\n%only a comment\n\nX:3\nT:Ok\nK:D\nABcd|\n"
    )
    tunes, report = parse_tunebook(text, "t.abc")
    assert [t.title for t in tunes] == ["Ok"]
    assert report.dropped == {"no K: field": 1, "no music": 1}
    assert report.problems[0] == "t.abc:1: dropped tune (no K: field)"


def test_empty_file_is_a_clear_error(tmp_path):
    (tmp_path / "empty.abc").write_bytes(b"")
    with pytest.raises(CorpusError, match=r"empty\.abc.*no usable tunes.*no X: line"):
        read_corpus([str(tmp_path / "empty.abc")])


def test_binary_junk_is_reported_not_raised(tmp_path):
    (tmp_path / "junk.abc").write_bytes(bytes(range(256)) * 40)
    tunes, report = read_abc_file(tmp_path / "junk.abc")
    assert tunes == [] and "binary data" in report.problems[0]
    with pytest.raises(CorpusError, match=r"junk\.abc: binary data"):
        read_corpus([str(tmp_path)])


def test_non_utf8_bytes_are_read_as_latin1(tmp_path):
    (tmp_path / "latin.abc").write_bytes("X:1\nT:Caf\xe9\nK:D\nABcd|\n".encode("latin-1"))
    corpus = read_corpus([str(tmp_path / "latin.abc")])
    assert corpus.tunes[0].title == "Café"
    assert "read as Latin-1" in corpus.report.problems[0]


def test_ten_megabyte_single_line_is_handled_quickly(tmp_path):
    (tmp_path / "big.abc").write_text("A" * 10_000_000)
    start = time.perf_counter()
    with pytest.raises(CorpusError, match="no X: line"):
        read_corpus([str(tmp_path / "big.abc")])
    (tmp_path / "big.abc").write_text("X:1\nT:Huge\nK:D\n" + "A" * 10_000_000 + "\n")
    with pytest.raises(CorpusError, match="longer than 100000 characters"):
        read_corpus([str(tmp_path / "big.abc")])
    assert time.perf_counter() - start < 60  # linear time, no pathological regex


def test_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="no such file or folder, and not a bundled corpus"):
        read_corpus([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match=r"folder has no \.abc files"):
        read_corpus([str(tmp_path / "empty")])
    with pytest.raises(CorpusError, match="pattern matches no files"):
        read_corpus([str(tmp_path / "*.abc")])


def test_folders_and_globs(small_abc_dir):
    assert len(read_corpus([str(small_abc_dir)]).tunes) == 60
    assert len(read_corpus([str(small_abc_dir / "a.*")]).tunes) == 30


def test_duplicates_are_dropped(small_abc_dir):
    corpus = read_corpus([str(small_abc_dir / "a.abc"), str(small_abc_dir / "a.abc")])
    assert len(corpus.tunes) == 30 and corpus.report.dropped["duplicate"] == 30


def test_split_is_deterministic_and_disjoint(oneills):
    train, val = split_train_val(oneills.tunes, 0.05)
    train2, val2 = split_train_val(list(reversed(oneills.tunes)), 0.05)
    assert {t.text for t in val} == {t.text for t in val2}
    assert not {t.text for t in train} & {t.text for t in val}
    assert 0.03 < len(val) / len(oneills.tunes) < 0.07
    assert len(train) + len(val) == len(oneills.tunes) == len(train2) + len(val2)


def test_tunebook_from_samples_always_separates_tunes():
    samples = ["T:A\nK:D\nAB\n\ncd|\n", "", "X:9\nT:B\nM:3/4\nK:G\nGAB|", "T:half"]
    book = tunebook_from_texts(samples, [None, "empty", None, "stopped"])
    assert [line for line in book.splitlines() if line.startswith("X:")] == [
        "X:1",
        "X:2",
        "X:3",
        "X:4",
    ]
    tunes, report = parse_tunebook(book)
    assert report.read == 4 and [t.title for t in tunes] == ["A", "B"]
    assert "% tunegen: stopped" in book


def test_slugify():
    assert slugify("The Enchanted Valley!") == "the-enchanted-valley"
    assert slugify("???") == "untitled"
    assert len(slugify("x" * 100)) == 40


def test_normalise_rejects_text_in_header():
    with pytest.raises(ValueError, match="music before the K: field"):
        normalise_tune(["X:1", "T:t", "3/8=120", "K:D", "AB|"])
