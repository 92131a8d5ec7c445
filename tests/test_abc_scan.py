"""The incremental ABC reader: any feeding gives the same reading, copies are independent, and
the questions a sampler asks (time left, bar lines, can the tune end) have the right answers."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunegen.music import abc2midi
from tunegen.music.abc_rules import (
    abbreviation_problem,
    chord_symbol_problem,
    decoration_known,
    info_problem,
    key_problem,
    parse_meter,
    rhythm_problem,
    tempo_problem,
)
from tunegen.music.abc_scan import AbcScanner, check_text, scan_text

TUNES = abc2midi.split_tunes(
    (Path(__file__).parent / "data" / "abc2midi_oracle.abc").read_text(encoding="utf-8")
)
HEADER = "X:1\nT:t\nM:4/4\nL:1/8\nK:D\n"


def reading(scan: AbcScanner) -> tuple:
    """Everything the reader exposes, to compare two readings."""
    verdict = scan.finish()
    return verdict, scan.bars, scan.wrong_bars, scan.header, scan.meter, scan.unit


def scanned(*pieces: str) -> AbcScanner:
    scan = AbcScanner()
    for piece in pieces:
        scan.feed(piece)
    return scan


def test_feeding_a_character_or_a_chunk_at_a_time_reads_the_same() -> None:
    rng = random.Random(0)
    for tune in TUNES:
        whole = reading(scanned(tune))
        assert reading(scanned(*tune)) == whole, tune
        cuts = sorted(rng.sample(range(1, len(tune)), min(12, len(tune) - 1)))
        chunks = [tune[a:b] for a, b in zip([0, *cuts], [*cuts, len(tune)], strict=True)]
        assert reading(scanned(*chunks)) == whole, tune


# Pieces of ABC, well formed or not: what a model may write, for the property below.
PIECES = [*"ABCDEFGabcdefg,'^_=/23|:[]()<>{}~.TH-zx \n\"*!IUOP\t", "|:", ":|", "::", "|1",
          "[1", "M:", "K:", "U:", "I:", "L:", "N:", "M:3/4", "  ", "\n \n",
          "\n M:3/4\n"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60), st.randoms(use_true_random=False))
def test_any_text_reads_the_same_whole_in_pieces_or_a_character_at_a_time(pieces, rnd) -> None:
    """The sampler feeds a tune a symbol at a time, the checks read it whole: for any body
    (garbage included) the verdict, bars and wrong bars are the same."""
    text = "X:1\nM:6/8\nL:1/8\nK:D\n" + "".join(pieces) + "\n"
    whole = reading(scanned(text))
    assert reading(scanned(*text)) == whole
    cuts = sorted(rnd.sample(range(1, len(text)), min(8, len(text) - 1)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert reading(scanned(*chunks)) == whole


def test_copy_isolates_state() -> None:
    scan = scanned(HEADER, "|:ABcd efga|[1 AB")
    saved = scan.copy()
    before = (saved.bar_time, saved.bars, saved.errors, saved.ending, saved.repeat_open)
    scan.feed("c2 d2 :|[2 ^c8|][K:Cced]\n")
    assert scan.bar_count == 3 and scan.errors == ("Unknown mode 'ced'",)
    assert (saved.bar_time, saved.bars, saved.errors, saved.ending, saved.repeat_open) == before
    saved.feed("cd efga :| ")  # the copy goes on its own way, sharing nothing that changed
    assert saved.bar_count == 2 and not saved.errors
    assert scan.bar_count == 3


def test_copies_made_in_the_header_read_their_own_fields() -> None:
    """Every row of a sampled batch starts from a copy of one scanner: a header field one row
    writes (its M:, which a hornpipe's bar count and R: check read) is not another row's."""
    start = AbcScanner()
    start.feed("X:1\nT:t\n")
    other, row = start.copy(), start.copy()
    other.feed("M:2/4\n")
    text = "M:6/8\nR:hornpipe\nK:C\nABc def|\n"
    row.feed(text)
    alone = AbcScanner()
    alone.feed("X:1\nT:t\n" + text)
    assert row.verdict() == alone.verdict() and not row.verdict().no_error


@pytest.mark.parametrize(
    "body, problems",
    [  # abc2midi 2023-02-08's messages on each (bars in quarter notes: "Bar 2 has 6 time units")
        ("F8|F2 F2 F4|-F2 F2 F2 F2|F8|]", ["bar 1 has 1/2", "bar 2 has 3/2"]),
        ("F8|F2 F2 F4| -F2 F2 F2 F2|F8|]", ["bar 1 has 1/2", "bar 2 has 3/2"]),
        ("F8|F2 F2 F4|-|F8|F8|]", ["bar 1 has 1/2", "bar 2 has 1/2"]),
        ("F8|F2 F2 F4||-F6 F2|F8|]", ["bar 1 has 2"]),
        ("F8|F2 F2 [F4A4]|-[F2A2] F6|F8|]", ["bar 2 has 3/2"]),
        ("F2 F2 F2 F2|-F2 F2 F2 F2|F8|]", ["bar 1 has 5/4"]),
        ("F8|F2 F2 F4-|F2 F2 F2 F2|F8|]", []),
        ("F2 F2 C2--C2 F2|F8|]", ["Bad tie: possibly two ties in a row"]),
        ("F2 F2 F2 C2-|-C2 F2 F2 F2|F8|]", ["Bad tie: possibly two ties in a row"]),
        ("F2 F2 [C4--E2] F2|F8|]", ["Bad tie: possibly", "Could not find note to be tied"]),
        ("F2 F2 [-C2E2] F2 F2|F8|]", []),
        ('F2 F2 F2 F2|[Q:1/4=90 "x]F8|]', ["Missing closing double quote"]),
    ],
)
def test_ties_after_a_bar_line_two_ties_in_a_row_and_a_tempo_string_left_open(body, problems):
    """A tie written after a bar line moves the tied note's time into the next bar (a chord's
    is counted in both); a second tie before a note is an error, and so is a tempo string with
    no closing quote."""
    _assert_problems("X:1\nT:t\nM:C\nL:1/8\nK:C\n" + body + "\n", problems)


def _assert_problems(text: str, starts: list[str]) -> None:
    """The check finds one problem in `text` per start given, in that order."""
    found = check_text(text).problems
    assert len(found) == len(starts) and all(
        message.startswith(start) for message, start in zip(found, starts, strict=True)
    ), found


@pytest.mark.parametrize(
    "body, found",
    [  # abc2midi 2023-02-08: "Could not find note to be tied" or nothing
        ("F8|F2 [C2-E2] F4|F8|]", False),  # the tied C is not in the next note
        ("F8|[C2-E2] z2 C2 F2|F8|]", False),  # ... nor in a rest
        ("F8|[CE]2-C2 F4|F8|]", False),  # a tie after a chord ties every note of it: E too
        ("F8|[CEG]2-[CE]2 F4|F8|]", False),
        ("F8|[CE]2-{C}[CE]2 F4|F8|]", False),  # a grace note is the next note
        ("F8|[C2-E2] [EC]2 F4|F8|]", True),
        ("F8|[C2-E2-] [CE]2 F4|F8|]", True),
        ("F8|[C2-E2]- [CE]2 F4|F8|]", True),  # the chord's tie takes in its own note's
        ("F8|[C2-E2] {C}[CE]2 F4|F8|]", True),
        ("F8|[CE]2-[CEG]2 F4|F8|]", True),
        ("F8|C2-[CE]2 F4|F8|]", True),
        ("F8|F4 F2 [C2-E2]|[CE]2 F6|]", True),
        # a staccato note is stored as a shorter note and a rest: its tie finds the rest
        ("F8|.[D2F2]-[D2F2] F4|F8|]", False),
        ("F8|[.D2F2]-[D2F2] F4|F8|]", False),
        ("F8|[.D2-F2] [D2F2] F4|F8|]", False),
        ("F8|[D2F2]-.[D2F2] F4|F8|]", True),
        ("F8|.[D2F2] [D2F2]- [DF]2 F2|F8|]", True),
        ("F8|.[D2-F2] [D2F2] F4|F8|]", False),  # staccato before the chord: each of its notes
        # ... unless a length follows the chord: abc2midi ties its notes as they are
        ("F8|.[DF]2-[DF]2 F4|F8|]", True),
        ("F8|[.D-F]2 [DF]2 F4|F8|]", True),
        # a second tie right after a chord's is taken as the first
        ("F8|F2 [CE]2--[CE]2 F2|F8|]", True),
        ("F8|F2 [C2-E2]--[CE]2 F2|F8|]", True),
        ("F8|F2 [CE]2-- F2 F2|F8|]", False),
    ],
)
def test_every_tied_note_of_a_chord_is_looked_for_in_the_next_note(body, found):
    """abc2midi looks for each tied pitch (a note tied inside a chord, or every note of a chord
    tied after it) in the next note, chord or grace note; a staccato note cannot be tied."""
    problems = check_text("X:1\nT:t\nM:C\nL:1/8\nK:C\n" + body + "\n").problems
    assert problems == (() if found else ("Could not find note to be tied",)), problems


@pytest.mark.parametrize(
    "body, problems",
    [  # abc2midi 2023-02-08 (M:3/4: "Bar 1 has 5 time units while the time signature has 3")
        ("AGABAG|TG6-|G4 Bd|e6|]", ["bar 1 has 5/4", "bar 2 has 1/4"]),
        ("AGABAG|!trill!G6-|G4 Bd|e6|]", ["bar 1 has 5/4", "bar 2 has 1/4"]),
        ("AGABAG|TG6-|G6-|G2 Bd e2|]", ["bar 1 has 7/4"]),  # the whole tie, two bar lines on
        ("AGABAG|A2 B2 TG2|-G2 A2 B2|]", ["bar 1 has 1 "]),  # not moved by a tie after a bar line
        ("|:A2 B2 TG2-|G2 A2 B2:|", ["bar 0 has 3/2 of a whole note, the metre 3/4 (in repeat)"]),
        ("AGABAG|TG2-G4|G4 Bd|e6|]", []),  # within its bar
        ("AGABAG|G6-|TG4 Bd|e6|]", []),  # the trill on the tied-to note
        ("AGABAG|!trill![CE]2 A2 B2|]", ["Rolls and trills", "Rolls and trills"]),
    ],
)
def test_a_trilled_note_takes_the_time_of_its_whole_tie(body, problems):
    """abc2midi plays a trilled note (T or !trill!) for the time of its whole tie, in the bar
    where it stands: that bar is long and the next ones short by the tied time."""
    _assert_problems("X:1\nT:t\nM:3/4\nL:1/8\nK:G\n" + body + "\n", problems)


@pytest.mark.parametrize(
    "bar, time",
    [  # abc2midi 2023-02-08's bar times (quarter notes), M:C L:1/8, the bar between two C8
        ("E>~G F2 G2 A2", "29/8"),  # E: 1 x 3/2 x 1/2, G: 1 x 1/2
        ("E<~G F2 G2 A2", "33/8"),  # E: 1 x 1/2 x 3/2, G: 1 x 3/2
        ("E>>~G F2 G2 A2", "107/32"),  # E: 7/4 x 1/4, G: 1/4
        ("E2>~G F2 G2 A", "7/2"),  # no lengths compared
        (".E>~G F2 G2 A2", "61/16"),  # a staccato E: only its note, not its rest
        ("E>~HG F2 G2 A2", "31/8"),
        ("HE>~G F2 G2 A2", None),  # (a fermata: 2 x 3/4 makes the bar right)
        ("[EG]>~G F2 G2 A2", None),  # a chord is lengthened as usual
        ("E>~z F2 G2 A2", None),  # a rest takes no roll
        # `~G3`: three stored notes of a unit each; a broken rhythm after it compares and
        # adjusts the last one
        ("~G3>C F2 G2", None),
        ("~G3<C F2 G2", None),
        ("~G3>~C F2 G2", "29/8"),
    ],
)
def test_a_rolled_note_after_broken_rhythm_is_counted_as_abc2midi_counts_it(bar, time):
    """A>~B: abc2midi gives A's stored note B's factor as well as its own, and compares no
    lengths; the check says what abc2midi says of the bar."""
    found = check_text(f"X:1\nT:t\nM:C\nL:1/8\nK:C\nC8|{bar}|C8|]\n").problems
    if time is None:
        assert found == (), found
    else:
        quarters = Fraction(time)
        assert found == (f"bar 1 has {quarters / 4} of a whole note, the metre 1",), found


@pytest.mark.parametrize(
    "head, body, problems",
    [  # abc2midi 2023-02-08, M:6/8: "Bar 0 has 5 time units ... in repeat"
        ("", "d|F2A A2c|d3 d2:|", []),  # the pickup makes one bar with the bar before :|
        ("V:1\n", "d|F2A A2c|d3 d2:|", ["bar 0 has 5/8", "bar 1 has 1/8"]),
        ("V:1 midi program 1 74\n", "d|F2A A2c|d3 d2||f|fdf fdf|d3 d2:|", ["bar 0", "bar 1"]),
        ("V:1\n", "F2A A2c|d3 d2:|", ["bar 0 has 5/8"]),  # (with no V:, 11/8)
        ("", "F2A A2c|d3 d2:|", ["bar 0 has 11/8"]),
        ("", "V:1\nd|F2A A2c|d3 d2:|", ["bar 0 has 5/8", "bar 1 has 1/8"]),  # a V: line
        ("", "[V:1]d|F2A A2c|d3 d2:|", []),  # an inline [V:] does not
        # a second voice's bars count in the verdict too
        ("", "V:1\nF2A A2c|d3 d2 z|F2A A2c|]\nV:2\nF2A A2c|d3 d2|F2A A2c|]", ["bar 1 has 5/8"]),
    ],
)
def test_a_voice_named_by_a_v_line_repeats_from_before_its_first_bar(head, body, problems):
    """A tune whose (first) voice a V: line names: abc2midi's repeat with no |: before it goes
    back to before the first bar line, so the time the bar before :| left is a bar of its own,
    and a pickup another."""
    text = f"X:1\nT:t\nM:6/8\nL:1/8\n{head}K:D\n{body}\n"
    _assert_problems(text, problems)
    assert check_text(text).every_bar_right == (not problems)


@pytest.mark.parametrize(
    "bar, malformed",
    [(".[.cB]2", True), (".[ .cB]2", True), ("H[HcB]2", True), ("u[vcB]2", True),
     (".[c.B]2", False), ("[.cB]2", False), (".[cB]2", False), ("!trill![.cB]", False)],
)  # fmt: skip
def test_decorations_before_a_chord_and_on_its_first_note_are_malformed(bar, malformed):
    """abc2midi 2023-02-08 reads one-letter decorations before a chord or on its first note,
    not both: "Malformed note : expecting a-g or A-G"."""
    problems = check_text(f"X:1\nT:t\nM:C\nL:1/8\nK:C\nF8|{bar} F2 F4|F8|]\n").problems
    found = "Malformed note : expecting a-g or A-G" in problems
    assert found == malformed, problems


@pytest.mark.parametrize(
    "bar, unequal", [("~G3>C F2 G2", False), ("~G3>C3 F2 G", True), ("~G6>C6", False)]
)
def test_a_roll_of_three_units_compares_its_last_unit_in_broken_rhythm(bar, unequal):
    """abc2midi stores `~G3` as three notes of a unit: `~G3>C` is a broken rhythm between equal
    notes, `~G3>C3` is not ("Notes not equal durations"); `~G6` is one note."""
    problems = check_text(f"X:1\nT:t\nM:C\nL:1/8\nK:C\nC8|{bar}|C8|]\n").problems
    assert ("Cannot apply broken rhythm. Notes not equal durations" in problems) == unequal


@pytest.mark.parametrize(
    "value, problem",
    [('1/4=96 "Slow', "Missing closing double quote"), ('1/4=96 "Slow"', None),
     ('96 "Slow', "Missing closing double quote"), ('1/4=96 x "Slow', None),
     ('"Allegro" "x', "Missing closing double quote"), ('1/4=96 "Slow" "x', None)],
)  # fmt: skip
def test_a_string_after_the_tempo_must_be_closed(value, problem):
    assert tempo_problem(value) == problem
    verdict = check_text(f"X:1\nT:t\nM:C\nL:1/8\nQ:{value}\nK:C\nF8|F8|]\n")
    assert verdict.no_error == (problem is None)


@pytest.mark.parametrize(
    "unit, problem",
    [("1/8", None), ("1/16", None), ("0/8", None), ("9/8", "Default length must be 1/X"),
     ("2/4", "Default length must be 1/X"), ("2", "Missing /")],
)  # fmt: skip
def test_a_unit_length_is_one_over_a_power_of_two(unit, problem):
    """abc2midi: L:9/8 (the model's M:9/8 in the wrong field) is an error, and the unit stays
    what it was: the bars are counted in eighths."""
    scan = scan_text(f"X:1\nT:t\nM:4/4\nL:{unit}\nK:C\nABcd efga|]\n")
    assert scan.verdict().problems[:1] == ((problem,) if problem else ())
    if problem:
        assert scan.unit == Fraction(1, 8)


def test_time_in_the_bar_with_tuplets_broken_rhythm_chords_grace_notes_and_ties() -> None:
    scan = scanned(HEADER, "A8|(3ABc A>B [CEG]2 {g}A-A")
    # triplet of eighths = 1/4, A>B = 1/4, chord 2 = 1/4, grace 0, A 1/8, A still being written
    assert scan.bar_time == 1 and scan.time_left() == 0
    assert scan.bar_line_ok("|")
    scan.feed("/")  # A/ now
    assert scan.time_left() == Fraction(1, 16)
    assert not scan.bar_line_ok("|")
    assert scan.in_body and not scan.in_header


def test_inline_fields_multi_bar_rests_and_free_metre() -> None:
    # A bar line is read when the next character comes (| may still become ||, |: or |1).
    scan = scanned(HEADER, "ABcd efga|[M:3/4][L:1/4]ABc|Z2|")
    assert scan.bar_count == 3 and scan.pending == "|"
    scan.feed("\n")
    assert (scan.meter, scan.unit) == (Fraction(3, 4), Fraction(1, 4))
    assert [bar.time for bar in scan.bars] == [1, Fraction(3, 4), Fraction(3, 4), Fraction(3, 4)]
    free = scanned("X:1\nM:none\nL:1/8\nK:G\nABC|")
    assert free.meter is None and free.time_left() is None and free.bar_line_ok("|")


def test_pickups_repeats_and_endings_as_abc2midi_plays_them() -> None:
    scan = scanned(HEADER, "|:A|d2fd edcB|ABcd efg")
    assert scan.pickup == Fraction(1, 8) and scan.repeat_open
    assert not scan.bar_line_ok("|")  # a short bar closed by | is wrong
    assert scan.bar_line_ok(":|")  # but before :| the pickup after |: completes it
    scan.feed(":| ")
    assert not scan.repeat_open and scan.repeat_pass == 2
    late = scanned(HEADER, "A|:d2fd edcB|ABcd efg")
    assert not late.bar_line_ok(":|")  # the repeat jumps back after the pickup: 7/8 + 1 bar
    endings = scanned(HEADER, "|:d2fd edcB|[1 ABcd efga:|[2 AB")
    assert endings.ending == "2" and endings.bars[-1].ending == "1"


def test_can_end_only_after_a_bar_line_with_no_repeat_open() -> None:
    scan = scanned(HEADER, "|:ABcd efga|")
    assert not scan.can_end()  # Missing :| at end of tune
    scan.feed("ABcd efga:|")
    assert scan.can_end()
    scan.feed("AB")
    assert not scan.can_end()
    assert not scanned(HEADER).can_end() and not scanned("X:1\nT:t\n").can_end()


def test_first_error_is_kept_and_verdicts() -> None:
    scan = scanned("X:1\nM:6/8\nL:1/8\nR:hornpipe\nK:Cced\nA>B2 c-d|")
    assert scan.error == "Unknown mode 'ced'"
    assert scan.errors[1:] == (
        "Hornpipe must be in 2/4 or 4/4 time",
        "Cannot apply broken rhythm. Notes not equal durations",
        "Could not find note to be tied",
    )
    verdict = scan.finish()
    assert not verdict.no_error and verdict.problems[: len(scan.errors)] == scan.errors
    assert check_text(HEADER + "ABcd efga|ABcd efg|\n").every_bar_right is False
    assert check_text(HEADER + "ABcd efga|ABcd efga|\n") == check_text(HEADER + "ABcd efga|" * 2)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("A Minor", None),
        ("Ador", None),
        ("Bb mix", None),
        ("F#m", None),
        ("none", None),
        ("D clef=bass", None),
        ("Cced", "Unknown mode 'ced'"),
        ("Amx", "Unknown mode 'mx'"),
        ("clef=treble", "First K: field must specify key signature"),
        ("", "First K: field must specify key signature"),
    ],
)
def test_key_modes(value: str, problem: str | None) -> None:
    assert key_problem(value) == problem


def test_metres_rhythms_tempi_chord_symbols_and_decorations() -> None:
    assert parse_meter("6/8") == (Fraction(3, 4), None)
    assert parse_meter("C|") == (Fraction(1), None)
    assert parse_meter("(3+2)/8") == (Fraction(5, 8), None)
    assert parse_meter("none") == (None, None)
    assert parse_meter("0/4")[1] == "Expecting fraction in form A/B"
    assert parse_meter("3/5")[1] == "5 b is not a power of 2"
    assert rhythm_problem("hornpipe", "6/8") == "Hornpipe must be in 2/4 or 4/4 time"
    assert rhythm_problem("Hornpipe", "C|") is not None
    assert rhythm_problem("hornpipe", "C") is None and rhythm_problem("reel", "6/8") is None
    assert tempo_problem("1/4=120") is None and tempo_problem('"Allegro"') is None
    assert tempo_problem("Do6") == "malformed Q: field ignored"
    assert chord_symbol_problem("Am7") is None and chord_symbol_problem("D/F#") is None
    assert chord_symbol_problem("^above") is None and chord_symbol_problem("2") is None
    assert chord_symbol_problem("Xyz") == "Guitar chord does not start with A-G or a-g"
    assert chord_symbol_problem("Dfoo") == 'Unrecognized chord name "foo"'
    assert decoration_known("trill") and decoration_known("D.S.")
    assert not decoration_known('F"Segno')


@pytest.mark.parametrize(
    "value, problem",
    [("T=!trill!", None), ("W = roll", None), ("", None), ("~=!roll!", None),
     ("Garun", "Missing '=' U: field ignored"), ("a b", "Missing '=' U: field ignored"),
     ("T=", "Missing term in U: field"), ("T=!!", "Missing term in U: field"),
     ("T=!trill", "No closing ! in U: field")],
)  # fmt: skip
def test_abbreviations_are_read_as_abc2midi_reads_them(value: str, problem: str | None) -> None:
    """U: (parseabc.c): a letter, "=", then !a decoration! or a word; abc2midi only warns of a
    line that does not open with a letter (and ignores it)."""
    assert abbreviation_problem(value) == problem
    verdict = check_text(f"X:1\nU:{value}\nM:6/8\nK:D\nDED GAB|\n")
    assert verdict.problems[:1] == ((problem,) if problem else ())


def test_a_roll_among_grace_notes_is_an_error() -> None:
    """abc2midi plays ~ as grace notes: on a grace note it makes a group inside the group, and
    a tie before a rolled note finds a grace note, not the note."""
    for body in ("DED {~G}FEE|", "DED ({G~A}F)EE|"):
        assert check_text(f"X:1\nM:6/8\nL:1/8\nK:D\n{body}\n").problems == ("nested { not allowed",)
    assert check_text("X:1\nM:6/8\nL:1/8\nK:D\nDED {TG}F{G}~E ~E|\n").problems != ()
    assert check_text("X:1\nM:6/8\nL:1/8\nK:D\nDED {TG}FEE|\n").no_error
    # a tie ends on the roll's first grace note, not on the note (O'Neill's, The Mountain Lark)
    tied = "X:1\nM:C|\nL:1/8\nK:Em\neB-{roll}B2efge|\n"
    assert check_text(tied.format(roll="~")).problems == ("Could not find note to be tied",)
    assert check_text(tied.format(roll="T")).no_error


@pytest.mark.parametrize(
    "line, right",
    [("T:Part two", True), ("W:words", True), ("E:9", True), ("d:!trill!", True),
     ("N:from a book", False), ("D :Cuala", False), ("R:reel", False), ("C:trad", False),
     ("DED*GAB|", False), ("DED GAB|**", True), ("DED GAB|* %a comment", True)],
)  # fmt: skip
def test_body_field_lines_and_stars_as_abc2midi_reads_them(line: str, right: bool) -> None:
    """parseabc.c: only E, I, K, L, M, P, Q, T, V, d, r, s, w, W and + fields may stand in the
    body ("D :" is a field too); stars end a line, and anywhere else are an error."""
    text = f"X:1\nM:6/8\nL:1/8\nK:D\nDED GAB|\n{line}\nDED GAB|\n"
    assert check_text(text).no_error == right


def test_a_microtone_follows_a_sharp_or_a_flat_only() -> None:
    """abc2midi reads ^3B, _1/2B and =^3B as microtones, and =3B as a malformed note."""
    for body, right in (("A2^3B/2c/2|", True), ("A2=^3B c/|", True), ("A2_1/2B c/|", True),
                        ("A2(=3B/2c/2)|", False), ("A2=/B c/|", False)):  # fmt: skip
        assert check_text(f"X:1\nM:3/8\nL:1/8\nK:D\n{body}\n").no_error == right, body


def test_broken_rhythm_across_a_bar_line_lengthens_the_bar_before() -> None:
    """abc2midi lengthens the note before > where it was stored and checks bars afterwards:
    `ABd |>ef` makes that bar long and the next one short (and in a repeat, the bar played
    again); within a bar, > moves no time out of it."""
    tune = "X:1\nM:6/8\nL:1/8\nK:D\nDFA GFE | GFE {bar}g fed | cAA A3 |]\n"
    for bar in ("ABd |>ef", "ABd> |(ef)", "AB[df] |>ef"):
        scan = scan_text(tune.format(bar=bar))
        assert [(w.number, w.time) for w in scan.wrong_bars] == [
            (1, Fraction(13, 16)),
            (2, Fraction(11, 16)),
        ], bar
        assert scan.bars[1].time == Fraction(13, 16)
    assert check_text(tune.format(bar="AB>d | e>f")).every_bar_right
    repeat = scan_text("X:1\nM:6/8\nL:1/8\nK:D\n|: DFA GFE | GFE ABd :: >efg fed | cAA A2 :|\n")
    assert [(w.time, w.repeat_pass) for w in repeat.wrong_bars] == [  # abc2midi's four
        (Fraction(13, 16), 1),
        (Fraction(13, 16), 2),
        (Fraction(11, 16), 1),
        (Fraction(21, 16), 2),
    ]


@pytest.mark.parametrize(
    "value, problem",
    [("MIDI program 1", None), ("MIDI=program 1", None), ("vol 90", None), ("", None),
     ("Reel", "I: key ' Reel' not recognized"), ("octave=1", "I: key ' octave' not recognized"),
     ("MIDI", '%%MIDI command "" not recognized')],
)  # fmt: skip
def test_instructions_are_read_as_abc2midi_reads_them(value: str, problem: str | None) -> None:
    """I: (store.c info_key) knows MIDI, MIDIx, vol and volinc, in the header, in the body and
    inline."""
    assert info_problem(value) == problem
    for text in (f"X:1\nI:{value}\nK:D\nDED|\n", f"X:1\nK:D\nDE [I:{value}] D|\n"):
        assert scan_text(text).errors[:1] == ((problem,) if problem else ())


def test_a_number_after_a_decoration_is_read_and_ignored() -> None:
    """abc2midi reads O2G and .4G as G (the number as a microtone with no accidental), a bare
    2G as an unrecognized character, and O G as a malformed note."""
    for body, problem in (("O2G", None), (".4G", None), ("2G", "Unrecognized character: 2"),
                          ("O G", "Malformed note : expecting a-g or A-G")):  # fmt: skip
        scan = scan_text(f"X:1\nM:6/8\nL:1/8\nK:D\nGGG {body} AcB|\n")
        assert scan.verdict().problems[:1] == ((problem,) if problem else ()), body
    assert scan_text("X:1\nM:6/8\nL:1/8\nK:D\nGGG O2G AcB|\n").bars[0].time == Fraction(7, 8)


def test_broken_rhythm_across_bar_lines_plays_again_only_what_follows(monkeypatch) -> None:
    """Each > across a bar line plays again only the features after the lengthened note (from
    the voice as it was before that note's time), not the whole voice: a long tune of them
    reads in linear time, and to the verdict a whole replay gives."""
    from tunegen.music import abc_playback

    tune = "X:1\nM:6/8\nL:1/8\nK:D\n" + "GFE AB d|>efg fed|" * 100 + "\n"
    real_lengthen = abc_playback.Playback.lengthen
    whole = lambda self, index, ticks, before=None: real_lengthen(self, index, ticks)  # noqa: E731
    monkeypatch.setattr(abc_playback.Playback, "lengthen", whole)
    expected = [(w.number, w.time, w.repeat_pass) for w in scan_text(tune).wrong_bars]
    monkeypatch.setattr(abc_playback.Playback, "lengthen", real_lengthen)
    made = []
    real_init = abc_playback.Playback.__init__
    monkeypatch.setattr(
        abc_playback.Playback,
        "__init__",
        lambda self, *a, **k: made.append(1) or real_init(self, *a, **k),
    )
    scan = scan_text(tune)
    assert len(made) <= 2  # the voice's and the body's: no replay from scratch
    assert [(w.number, w.time, w.repeat_pass) for w in scan.wrong_bars] == expected
    assert len(expected) == 199


def test_spaces_before_a_field_and_a_line_of_spaces_read_as_abc2midi_reads_them() -> None:
    """parseline skips a line's leading spaces: ` M:3/4` is a field line, and a line of spaces
    alone is blank (the tune ends there), fed whole or a character at a time."""
    tune = "X:1\nM:6/8\nL:1/8\nK:D\nDFA GFE|\n{line}\nefg fe|\n"
    for line, meter, ended_early in ((" M:3/4", "3/4", False), ("  \t", "6/8", True)):
        text = tune.format(line=line)
        whole, chars = scan_text(text), AbcScanner()
        for char in text:
            chars.feed(char)
        chars.finish()
        for scan in (whole, chars):
            assert scan.meter_text == meter and (len(scan.bars) == 1) == ended_early, line


def test_quick_answers_match_reading_the_bar_line_on_a_copy() -> None:
    rng = random.Random(1)
    for tune in TUNES[::5]:
        scan = AbcScanner()
        for char in tune:
            scan.feed(char)
            if scan.in_header or scan.ended or rng.random() > 0.2:
                continue
            for line in ("|", "||", "|]"):
                trial = scan.copy()
                wrong, errors = len(trial.wrong_bars), len(trial.errors)
                trial.feed(line + " ")
                slow = len(trial.wrong_bars) == wrong and len(trial.errors) == errors
                assert scan.bar_line_ok(line) == slow, (tune, line)


def test_error_and_wrong_bar_counts_follow_every_symbol():
    # the sampler asks for the counts after every symbol: they are the tuples' lengths throughout
    for tune in TUNES:
        scan = AbcScanner()
        for char in tune + "\n":
            scan.feed(char)
            assert scan.error_count() == len(scan.errors)
            assert scan.wrong_count() == len(scan.wrong_bars)
        scan.finish()
        assert (scan.error_count(), scan.wrong_count()) == (len(scan.errors), len(scan.wrong_bars))
