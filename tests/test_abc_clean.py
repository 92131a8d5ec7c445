"""Clean training text: what is stripped, repaired and dropped, and --keep-unclean."""

from __future__ import annotations

import pytest

from tunegen.music import abc2midi
from tunegen.music.abc import parse_tunebook
from tunegen.music.abc_clean import TuneCleaner, clean_tune
from tunegen.training.config import TrainConfig
from tunegen.training.corpus import prepare_corpus

HEAD = "M:4/4\nL:1/8\nK:G\n"
BOOK = "\n".join(
    f"X:{n}\nT:{title}\n{head}{body}\n"
    for n, (title, head, body) in enumerate(
        [
            ("clean", HEAD, "|:GABc d2B2|c2A2 G4:|"),
            ("open repeat", HEAD, "|:GABc d2B2|c2A2 G4|"),
            ("stray text", HEAD, '"D.C."GABc !Segno!d2B2|"G"c2A2 ">"G4|]'),
            ("slur as tie", HEAD, "G3-A B2-c2|d4 d4|]"),
            ("hornpipe in 6/8", "M:6/8\nL:1/8\nR:hornpipe\nK:G\n", "GAB cde|d3 B3|]"),
            ("wrong bar", HEAD, "GABc d2B2|c2A2 G2|GABc d4|]"),
            ("fingering", HEAD, '(G"4"<A) B2 c4|d8|]'),
            ("fingering after a decoration", HEAD, 'u"1"d2 B2 c4|"4"d8|]'),
        ],
        1,
    )
)


@pytest.fixture(scope="module")
def results():
    tunes, _ = parse_tunebook(BOOK)
    return {tune.title: clean_tune(tune) for tune in tunes}


def test_clean_tunes_pass_unchanged(results):
    assert results["clean"].changes == [] and results["clean"].tune.body == (
        "|:GABc d2B2|c2A2 G4:|",
    )


def test_what_abc2midi_rejects_and_no_player_needs_is_stripped(results):
    stray = results["stray text"]
    assert stray.tune.body == ('GABc d2B2|"G"c2A2 G4|]',)  # the chord symbol stays
    assert stray.changes == ["non-standard decorations stripped", "stray annotations stripped"]
    assert results["slur as tie"].tune.body == ("G3A B2c2|d4 d4|]",)
    hornpipe = results["hornpipe in 6/8"]
    assert hornpipe.tune.field("R") is None and hornpipe.changes == [
        "R: that contradicts M: removed"
    ]


def test_fingerings_stay_unless_abc2midi_refuses_where_one_stands(results):
    """abc2midi and music21 read past a fingering ("4"), and a fiddler reads it: kept. After a
    one-letter decoration abc2midi finds a malformed note: the tune's fingerings go."""
    kept = results["fingering"]
    assert kept.tune.body == ('(G"4"<A) B2 c4|d8|]',) and kept.changes == []
    stripped = results["fingering after a decoration"]
    assert stripped.tune.body == ("ud2 B2 c4|d8|]",)
    assert stripped.changes == ["fingerings stripped"]


def test_a_repeat_left_open_is_closed_and_wrong_bars_are_dropped(results):
    repaired = results["open repeat"]
    assert repaired.tune.body == ("|:GABc d2B2|c2A2 G4:|",)
    assert repaired.changes == ["repeat closed at the end"]
    assert results["wrong bar"].tune is None
    assert results["wrong bar"].dropped == "bar of the wrong length"


@pytest.mark.skipif(not abc2midi.available(), reason="abc2midi is not installed (apt abcmidi)")
def test_abc2midi_finds_every_cleaned_tune_right(results):
    kept = [r.tune.abc(1) for r in results.values() if r.tune is not None]
    assert len(kept) == 7
    assert all(v.every_bar_right for v in abc2midi.check_tunes(kept)), kept


def test_the_cleaner_counts_per_reason():
    cleaner = TuneCleaner()
    texts = [cleaner.text(tune.text) for tune in parse_tunebook(BOOK)[0]]
    assert sum(text is None for text in texts) == 1 and cleaner.kept == 7
    assert cleaner.dropped == {"unclean: bar of the wrong length": 1}
    assert cleaner.changes["cleaned: repeat closed at the end"] == 1
    assert cleaner.changes["cleaned: ties between different notes removed"] == 1


def test_train_reads_cleaned_text_and_scores_the_held_out_tunes_both_ways(tmp_path):
    book = tmp_path / "book.abc"
    book.write_text(BOOK, encoding="utf-8")
    config = TrainConfig(corpus=(str(book),), val_fraction=0.3)
    texts, _, info = prepare_corpus(config, tmp_path / "clean")
    raw, _, raw_info = prepare_corpus(
        TrainConfig(corpus=(str(book),), val_fraction=0.3, keep_unclean=True), tmp_path / "raw"
    )
    assert set(texts) == {"train", "val", "val_clean"} and set(raw) == {"train", "val"}
    assert list(texts["val"]) == list(raw["val"])  # held-out tunes as they are, as before
    tunes = parse_tunebook(BOOK)[0]
    assert list(raw["train"]) + list(raw["val"]) != []  # --keep-unclean: the old text, unchanged
    assert sorted([*raw["train"], *raw["val"]]) == sorted(tune.text for tune in tunes)
    assert "unclean" not in raw_info["report"] and "cleaned" not in raw_info["report"]
    assert "8 tunes read, 7 kept, 1 dropped (1 unclean: bar of the wrong length)" in info["report"]
    assert "1 cleaned: repeat closed at the end" in info["report"]
    assert not any("wrong bar" in text for text in texts["train"])
    assert info["val_clean_tunes"] <= info["val_tunes"]
