"""Bar lengths, structure and melodies read from hand-written ABC with known answers."""

from fractions import Fraction

import pytest

from tunegen.music.abc import Tune, parse_tunebook
from tunegen.music.abc_rhythm import parse_meter, parse_unit
from tunegen.music.abc_syntax import key_name, key_signature
from tunegen.music.melody import abc_melody
from tunegen.music.metre import Structure, metre_share, structure


def tune(body: str, meter: str = "4/4", unit: str | None = "1/8", key: str = "D") -> Tune:
    unit_line = f"L:{unit}\n" if unit else ""
    tunes, report = parse_tunebook(f"X:1\nT:t\nM:{meter}\n{unit_line}K:{key}\n{body}\n")
    assert tunes, report.problems
    return tunes[0]


# (body, metre, unit, bars right, bars total): every rule of the bar check, one case or more each.
# The counts are abc2midi's (abcmidi 2023-02-08, `abc2midi -c`): it judges a short bar before :|
# or at an ending by what is played after it, so several of these tunes have a wrong bar.
CASES = {
    "plain bars": ("ABcd efga|bagf edcB|", "4/4", "1/8", 2, 2),
    "length multipliers": ("A2 B/c/ d3/2e/ f//g//a/4b/4 c2|ABcd efga|", "4/4", "1/8", 2, 2),
    "rests": ("z2 x2 A4|ABcd efga|", "4/4", "1/8", 2, 2),
    "multi-bar rest": ("Z4|ABcd efga|", "4/4", "1/8", 5, 5),
    "chords": ("[CEG]4 [DF]2 [EG]2|[C2E2G2]2 A4|", "4/4", "1/8", 1, 2),
    "broken rhythm": ("A>B c<d e>>f g<<a|A>B c2 d2 e2|", "4/4", "1/8", 2, 2),
    "triplets": ("(3ABc d2 e2 f2|(3A2B2c2 d4|", "4/4", "1/8", 2, 2),
    "quintuplet": ("(5abcde f4 g2|ABcd efga|", "4/4", "1/8", 2, 2),
    "tuplet p:q:r": ("(3:2:2A3B3 c4|ABcd efga|", "4/4", "1/8", 2, 2),
    "duplet in 6/8": ("(2AB c3|ABc def|", "6/8", "1/8", 2, 2),
    "grace notes": ("{g}A2 {ag}B2 c4|ABcd efga|", "4/4", "1/8", 2, 2),
    "decorations": ("!trill!A2 ~B2 .c2 Td2|+fermata+A8|", "4/4", "1/8", 1, 2),
    "annotations": ('"Am"A2 "^a b c"B2 c4|ABcd efga|', "4/4", "1/8", 2, 2),
    "ties and slurs": ("(A2B2) c4-|c8|", "4/4", "1/8", 2, 2),
    "accidentals and octaves": ("^A2 _B2 =c2 ^^d _e|A,2 B,,2 c'2 d''2|", "4/4", "1/8", 2, 2),
    "inline fields": ("ABcd efga|[M:3/4]ABc def|[L:1/4]A B C|", "4/4", "1/8", 3, 3),
    "body field line": ("ABcd efga|\nM:6/8\nABc def|", "4/4", "1/8", 2, 2),
    "line continuation": ("ABcd \\\nefga|ABcd efga|", "4/4", "1/8", 2, 2),
    "no bar line at line end": ("ABcd\nefga|ABcd efga|", "4/4", "1/8", 2, 2),
    "default unit 1/16 under 3/4": ("ABcd efga|ABcd efga|", "2/4", None, 2, 2),
    "common time": ("ABcd efga|ABcd efga|", "C", "1/8", 2, 2),
    "cut time": ("ABcd efga|ABcd efga|", "C|", "1/8", 2, 2),
    "bar line kinds": (
        "|:ABcd efga::ABcd efga:|ABcd efga||ABcd efga[|ABcd efga|]",
        "4/4",
        "1/8",
        5,
        5,
    ),
    "pickup and short last bar": ("A|BcdB ABcd|ABcd efg|", "4/4", "1/8", 2, 3),
    "wrong bars": ("ABcd efga|ABc efga|ABcd efgab|ABcd efga|", "4/4", "1/8", 2, 4),
    "pickups at repeats": ("A|:d2fd edcB|ABcd efg:|\n|:g|fedc BAGF|ABcd efg:|", "4/4", "1/8", 5, 6),
    "short bar at repeat, no pickup": (
        "d2fd edcB|ABcd ef:|d2fd edcB|ABcd efga|",
        "4/4",
        "1/8",
        2,
        4,
    ),
    "endings |1 :|2": (
        "A|:d2fd edcB|1 ABcd efg:|2 ABcd e3||fedc BAGF|ABcd efga|]",
        "4/4",
        "1/8",
        4,
        6,
    ),
    "endings [1 [2": (
        "A|:d2fd edcB|[1 ABcd efg:|[2 ABcd e3||fedc BAGF|ABcd efga|]",
        "4/4",
        "1/8",
        4,
        6,
    ),
    "second ending too short": (
        "A|:d2fd edcB|1 ABcd efg:|2 ABcd e2||fedc BAGF|ABcd efga|]",
        "4/4",
        "1/8",
        4,
        6,
    ),
    "jig with pickup": ("A|dfa dfa|gfe dcB|AFA d2:|", "6/8", "1/8", 4, 4),
    # The repeat jumps back to |:, so the pickup that completes the bar before :| follows |:.
    "pickup after |:": ("|:A|d2fd edcB|ABcd efg:|", "4/4", "1/8", 3, 3),
    "endings after a pickup": ("|:A|d2fd edcB|1 ABcd efg:|2 ABcd e3|]", "4/4", "1/8", 4, 4),
    "fermata doubles a note": ("ABcd e4|!fermata!A4|", "4/4", "1/8", 2, 2),
}


@pytest.mark.parametrize("case", CASES)
def test_bar_lengths(case: str) -> None:
    body, meter, unit, right, total = CASES[case]
    result = metre_share(tune(body, meter, unit))
    assert (result.bars_right, result.bars_total) == (right, total), result.wrong


def test_wrong_bars_are_numbered_and_share_counts_them() -> None:
    result = metre_share(tune(CASES["wrong bars"][0]))
    assert result.wrong == (2, 3)
    assert result.share == 0.5
    assert not result.all_right


def test_free_metre_is_not_checked() -> None:
    result = metre_share(tune("ABcd efgab|ABc|", meter="none"))
    assert result.bars_total == 0
    assert result.share is None


def test_meter_unit_and_key_parsing() -> None:
    assert parse_meter("C") == 1
    assert parse_meter("C|") == 1
    assert parse_meter("6/8") == Fraction(3, 4)
    assert parse_meter("(2+3)/8") == Fraction(5, 8)
    assert parse_meter("none") is None
    assert parse_unit(None, Fraction(1, 2)) == Fraction(1, 16)
    assert parse_unit(None, Fraction(3, 4)) == Fraction(1, 8)
    assert key_signature("D") == {"F": 1, "C": 1}
    assert key_signature("Ador") == {"F": 1}
    assert key_signature("Bb") == {"B": -1, "E": -1}
    assert key_signature("Gm") == {"B": -1, "E": -1}
    assert key_signature("D mix") == {"F": 1}
    assert key_signature("C ^f") == {"F": 1}
    assert key_name("Ador") == "A dorian"
    assert key_name("Gm") == "G minor"
    assert key_name("F#m") == "F# minor"


def test_melody_applies_key_and_bar_scoped_accidentals() -> None:
    melody = abc_melody(tune("F ^G G z|G F =F F|", key="D"))
    assert [pitch for pitch, _ in melody] == [66, 68, 68, 67, 66, 65, 65]


def test_melody_joins_ties_and_reads_octaves() -> None:
    melody = abc_melody(tune("C,2 C2- C2 c'2|", key="C"))
    assert melody == [(48, Fraction(1, 4)), (60, Fraction(1, 2)), (84, Fraction(1, 4))]


def test_chord_gives_its_top_note() -> None:
    assert abc_melody(tune("[CEG]8|", key="C")) == [(67, Fraction(1))]


@pytest.mark.parametrize(
    ("body", "bars", "parts", "repeats"),
    [
        ("|:ABcd efga|ABcd efga:|\n|:ABcd efga|ABcd efga:|", 4, 2, 2),
        ("A|:d2fd edcB|1 ABcd efg:|2 ABcd e3||fedc BAGF|ABcd efga|]", 6, 2, 1),
        ("ABcd efga|ABcd efga|ABcd efga|", 3, 1, 0),
        ("Z4|ABcd efga||ABcd efga|]", 6, 2, 0),
    ],
)
def test_structure(body: str, bars: int, parts: int, repeats: int) -> None:
    assert structure(tune(body)) == Structure(bars, parts, repeats)


def test_the_one_mode_table_names_every_mode_abc2midi_knows() -> None:
    from tunegen.music.abc_rules import MODES
    from tunegen.music.abc_syntax import MODE_FIFTHS, MODE_NAMES

    assert set(MODE_NAMES) == set(MODES) - {"exp"}  # exp: an explicit signature, not a mode
    assert set(MODE_FIFTHS) == {*MODE_NAMES, "m"}
