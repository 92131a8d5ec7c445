"""The ABC transposer: hand-made cases, and music21's own transposition of real tunes as oracle."""

from __future__ import annotations

import pytest
from conftest import one_tune

from tunegen.music.abc import BUNDLED_CORPORA, bundled_corpus_files, read_abc_file
from tunegen.music.transpose import (
    ALL_SHIFTS,
    Interval,
    KeyAugmenter,
    TransposeError,
    interval_by_semitones,
    parse_target_keys,
    transpose_by,
    transpose_chord_symbol,
    transpose_to,
    tune_key,
)
from tunegen.music.transpose_oracle import agrees_with_music21

UP_FOURTH = Interval(3, 5)
DOWN_TONE = Interval(-1, -2)


def body(text: str, key: str = "D", target: str = "G") -> str:
    """The transposed body of a one-line tune in `key`."""
    tune = one_tune(f"X:1\nT:t\nM:4/4\nL:1/8\nK:{key}\n{text}\n")
    moved = transpose_to(tune, target)
    return "\n".join(moved.body)


def test_key_signature_mode_and_octaves():
    tune = one_tune("X:1\nT:t\nM:4/4\nL:1/8\nK:Ador\nA,B,CD EFGA|Bcde fgab|c'2 C,2 z4|\n")
    moved = transpose_to(tune, "E")
    assert moved.field("K") == "Edor"
    assert moved.body == ("E,F,G,A, B,CDE|FGAB cdef|g2 G,,2 z4|",)
    assert transpose_to(tune, "Bb").field("K") == "Bbdor"
    assert transpose_by(one_tune("X:1\nK:A Minor\nABc|\n"), -3).field("K") == "F# Minor"


def test_accidentals_follow_the_new_key_and_carry_to_the_end_of_the_bar():
    # D major -> G major: the C natural of D (a flattened 7th) becomes an F natural in G
    assert body("d=cBA =cA|c2") == "g=fed =fd|f2"
    # an accidental holds for the letter in every octave to the bar line (ABC 2.1 s4.2)
    assert body("^G A G g | G") == "^c d c c' | c"
    # in G the transposed C of D major's signature needs no mark; a written natural keeps one
    assert body("=F F ^F") == "_B B =B"


def test_accidentals_are_respelt_where_the_new_key_would_need_a_double_one():
    tune = one_tune("X:1\nT:t\nM:4/4\nL:1/8\nK:C\n^F G ^^F G|\n")
    assert transpose_by(tune, 1).field("K") == "Db"  # 5 flats, not C# with 7 sharps
    assert transpose_by(tune, 1).body == ("=G A ^G A|",)
    # C -> C#: F# -> F## is written G, which then needs its sharp back; F### -> G#
    assert transpose_to(tune, "C#").body == ("=G ^G ^G G|",)
    flat = transpose_to(one_tune("X:1\nT:t\nM:4/4\nL:1/8\nK:F\n_B _e B|\n"), "Eb")
    # F -> Eb: Bb -> Ab (signature), a written Eb -> Db (signature too, but written stays written)
    assert flat.body == ("_A _d A|",)


def test_chord_symbols_move_with_the_tune_and_other_text_does_not():
    assert transpose_chord_symbol("Am7", UP_FOURTH) == "Dm7"
    assert transpose_chord_symbol("D/F#", UP_FOURTH) == "G/B"
    assert transpose_chord_symbol("Bb", UP_FOURTH) == "Eb"
    assert transpose_chord_symbol("F#m7b5", DOWN_TONE) == "Em7b5"
    assert transpose_chord_symbol("Gsus4", DOWN_TONE) == "Fsus4"
    assert transpose_chord_symbol("Am/c", DOWN_TONE) == "Gm/bb"  # a lowercase bass stays so
    for text in ("Fine", "D.C.", "End", "f", "tr", "4"):
        assert transpose_chord_symbol(text, UP_FOURTH) == text
    assert body('"A7"A2 "^D.C."d2 "_Fine"f2') == '"D7"d2 "^D.C."g2 "_Fine"b2'


def test_fingerings_are_left_out_of_a_transposed_tune():
    """A fingering ("4") belongs to the note where it was written: moved, it would be wrong."""
    assert body('"4"A2 "1"d2 "A7"f2') == 'd2 g2 "D7"b2'


def test_grace_notes_chords_decorations_and_inline_key_changes():
    assert body("{gf}e2 [DFA]2 !trill!B ~c [K:A] ce|") == "{c'b}a2 [GBd]2 !trill!e ~f [K:D] fa|"
    tune = one_tune("X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc|\nK:Em\nEFGA|\nP:B\nBcde|\n")
    moved = transpose_to(tune, "D")
    assert moved.body == ("DEFG|", "K:Bm", "B,CDE|", "P:B", "FGAB|")
    # an ABC 1.6 chord +E3A3+ is music, not a decoration
    assert body("+E3A3+ +trill+B|") == "+A3d3+ +trill+e|"


def test_keys_it_cannot_handle_raise_with_the_reason():
    for key, reason in (("none", "no tonic"), ("Hp", "no tonic"), ("Bn", "unknown mode")):
        tune = one_tune(f"X:1\nT:t\nK:{key}\nABc|\n")
        with pytest.raises(TransposeError, match=reason):
            transpose_by(tune, 2)
    with pytest.raises(TransposeError, match="microtonal"):
        transpose_by(one_tune("X:1\nT:t\nK:D\nA^/B c|\n"), 2)
    with pytest.raises(TransposeError, match="accidental '=' with no note"):
        transpose_by(one_tune("X:1\nT:t\nK:D\nA =3Dg c|\n"), 2)


def test_target_keys_are_read_or_refused():
    targets = parse_target_keys("D, G,A,E,Bm")
    assert [t.text for t in targets] == ["D", "G", "A", "E", "Bm"]
    minor = tune_key(one_tune("X:1\nK:Em\nE|\n"))
    assert [t.applies_to(minor) for t in targets] == [True] * 5
    major = tune_key(one_tune("X:1\nK:G\nG|\n"))
    assert [t.applies_to(major) for t in targets] == [True, True, True, True, False]
    for bad in ("H", "D,,G", "Xm", "Dfoo", "D =c"):
        with pytest.raises(ValueError, match="cannot read key"):
            parse_target_keys(bad)


def test_the_augmenter_counts_copies_and_tunes_kept_in_their_own_key():
    augmenter = KeyAugmenter(parse_target_keys("D,G,A,E,Bm"))
    copies = augmenter.copies(one_tune("X:1\nT:t\nK:G\nGABc|\n"))
    assert [c.field("K") for c in copies] == ["D", "A", "E"]  # not G again, not Bm (minor)
    assert augmenter.copies(one_tune("X:1\nT:t\nK:none\nGABc|\n")) == []
    everywhere = KeyAugmenter()
    assert len(everywhere.copies(one_tune("X:1\nT:t\nK:Ador\nABc|\n"))) == len(ALL_SHIFTS) - 1
    assert augmenter.counts == {
        "tunes transposed": 1,
        "transposed copies": 3,
        "kept in own key (key 'none' has no tonic)": 1,
    }
    assert everywhere.counts["transposed copies"] == 11


def _sample(corpus: str, count: int) -> list:
    """`count` tunes spread over the first file of a bundled collection (a fixed sample)."""
    tunes, _ = read_abc_file(bundled_corpus_files(corpus)[0])
    step = max(1, len(tunes) // count)
    return tunes[::step][:count]


@pytest.mark.parametrize("corpus", [*BUNDLED_CORPORA, "nottingham-dataset"])
def test_music21_hears_the_same_pitches_as_its_own_transposition(corpus):
    shifts = [s for s in ALL_SHIFTS if s]
    for index, tune in enumerate(_sample(corpus, 6)):
        interval = interval_by_semitones(tune_key(tune), shifts[index % len(shifts)])
        verdict, detail = agrees_with_music21(tune, interval)
        assert verdict is True, f"{tune.source}: {detail}"
