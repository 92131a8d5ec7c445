"""Clean training text: repair or drop tunes whose bars or repeats abc2midi finds wrong.

First what abc2midi rejects and no player needs is stripped: quoted text that is neither a chord
symbol nor an annotation ("D.C.", "p"), annotations with no text (">"), decorations outside ABC
2.1's list (!Segno!), a lone "!" (an ABC 1.6 line break), a tie between different notes
(O'Neill's writes slurs as ties), one-letter decorations before a slur or a bar line, an R: that
contradicts M: (abc2midi refuses R:hornpipe in 6/8) and a P: play order in the header. Then the
tune is judged with the bar check that agrees with abc2midi (`abc_scan`); a repeat left open at
the end is closed, the one repair that is sure. A tune that still has an error or a bar of the
wrong length is dropped, counted under its first problem.

Fingerings ("4" over a note: O'Neill's and Ryan's violin fingerings) are kept: abc2midi and
music21 read past them and a player uses them. Only where one stands in a way abc2midi refuses
(`u"1"d`: "Malformed note") are a tune's fingerings stripped, if that keeps the tune.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from tunegen.music.abc import FIELD_LINE, Tune, normalise_tune
from tunegen.music.abc_rules import chord_symbol_problem, decoration_known, rhythm_problem
from tunegen.music.abc_scan import check_text
from tunegen.music.abc_syntax import ACCIDENTAL_PATTERN, FINGERINGS, QUOTED

_DECORATION = re.compile(r"!([^!\s]*)!")
_LONE_BANG = re.compile(r"!")
# A note, its length, broken rhythm and a tie; then (past blanks, bar lines...) the next note.
_TIE = re.compile(
    rf"(?P<first>(?:{ACCIDENTAL_PATTERN})?(?P<l1>[A-Ga-g])(?P<o1>[',]*)[\d/]*[<>]*)-"
    r"(?P<gap>[<>]*[\s|:\]\[.~()]*(?:![^!\s]*!)*)"
    rf"(?=(?:{ACCIDENTAL_PATTERN})?(?P<l2>[A-Ga-g])(?P<o2>[',]*))"
)
# One-letter decorations (ABC 2.1 s4.14) belong on a note: abc2midi finds "Malformed note" when
# a slur or tuplet opens between them ("~(dcd)", "u((3DEF)"), or a bar line follows ("H|]").
_DECORATION_LETTERS = r"[.~HLMOPSTuv]+"
_DECORATION_BEFORE_PAREN = re.compile(rf"({_DECORATION_LETTERS})((?:\(\d(?::\d*){{0,2}}|\()+)")
_DECORATION_BEFORE_BAR = re.compile(rf"(?<![A-Za-z]){_DECORATION_LETTERS}(?=\s*(?:\[?\||:\||$))")
_FINAL_BAR = re.compile(r"(\|\]|\|\||\|)\s*$")
_DIGITS = re.compile(r"\d+(?:/\d+)?")
_FINGERING = re.compile(f'"[{"".join(FINGERINGS)}]')  # a quoted string that is a fingering


@dataclass
class CleanResult:
    """A cleaned tune (None if dropped), what was stripped or repaired, and why it was dropped."""

    tune: Tune | None
    changes: list[str] = field(default_factory=list)
    dropped: str | None = None


def _strip_quoted(line: str, changes: set[str], strip_fingerings: bool) -> str:
    def keep(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner[:1] in FINGERINGS:
            if not strip_fingerings:
                return match.group()
            changes.add("fingerings stripped")
            return ""
        if inner[:1] in tuple("^_<>@") and inner[1:].strip():  # an annotation (ABC 2.1 s4.19)
            return match.group()
        if inner[:1] not in tuple("^_<>@") and chord_symbol_problem(inner) is None:
            return match.group()
        changes.add("stray annotations stripped")
        return ""

    return QUOTED.sub(keep, line)


def _strip_decorations(line: str, changes: set[str]) -> str:
    def keep(match: re.Match[str]) -> str:
        if decoration_known(match.group(1)):
            return match.group()
        changes.add("non-standard decorations stripped")
        return ""

    line = _DECORATION.sub(keep, line)
    # what is left of "!" after the decorations is ABC 1.6's line break, an error in abc2midi
    if "!" in _DECORATION.sub("", line):
        parts = _DECORATION.split(line)  # decorations at odd places, text at even ones
        for i in range(0, len(parts), 2):
            if "!" in parts[i]:
                parts[i] = _LONE_BANG.sub("", parts[i])
                changes.add("stray ! stripped")
        line = "".join(f"!{p}!" if i % 2 else p for i, p in enumerate(parts))
    return line


def _untie_different_notes(line: str, changes: set[str]) -> str:
    """Drop "-" between notes of different letters or octaves: a tie needs one pitch."""

    def untie(match: re.Match[str]) -> str:
        if (match["l1"], match["o1"]) == (match["l2"], match["o2"]):
            return match.group()
        changes.add("ties between different notes removed")
        return match["first"] + match["gap"]

    return _TIE.sub(untie, line)


def _strip_body_line(line: str, changes: set[str], strip_fingerings: bool) -> str:
    if FIELD_LINE.match(line):
        return line
    line = _strip_quoted(line, changes, strip_fingerings)
    line = _strip_decorations(line, changes)
    line = _place_decorations(line, changes)
    return _untie_different_notes(line, changes)


def _place_decorations(line: str, changes: set[str]) -> str:
    """Move one-letter decorations past an opening slur or tuplet; drop those before a bar."""
    moved = _DECORATION_BEFORE_PAREN.sub(r"\2\1", line)
    if moved != line:
        changes.add("decorations moved onto their note")
    stripped = _DECORATION_BEFORE_BAR.sub("", moved)
    if stripped != moved:
        changes.add("decorations on bar lines stripped")
    return stripped


def _strip_header(tune: Tune, changes: set[str]) -> tuple[tuple[str, str], ...]:
    header = []
    for name, value in tune.header:
        if name == "R" and rhythm_problem(value, tune.field("M")) is not None:
            changes.add("R: that contradicts M: removed")
        elif name == "P":
            changes.add("P: play order in the header removed")
        else:
            header.append((name, value))
    return tuple(header)


def _close_repeat(body: tuple[str, ...]) -> tuple[str, ...]:
    """End the last music line with ":|" (abc2midi: "Missing :| at end of tune")."""
    lines = list(body)
    for i in range(len(lines) - 1, -1, -1):
        if not FIELD_LINE.match(lines[i]):
            text = lines[i].rstrip("\\ ")
            lines[i] = _FINAL_BAR.sub(":|", text) if _FINAL_BAR.search(text) else text + ":|"
            break
    return tuple(lines)


def _reason(problems: tuple[str, ...]) -> str:
    """The first problem, with its numbers generalised so that tunes count together."""
    first = problems[0]
    if first.startswith("bar "):
        return "bar of the wrong length" + (" in a repeat" if "(in repeat)" in first else "")
    return _DIGITS.sub("N", first)


def clean_tune(tune: Tune) -> CleanResult:
    """Strip, judge, repair where sure, else drop; see the module docstring."""
    result = _clean(tune, strip_fingerings=False)
    if result.tune is None and any(_FINGERING.search(line) for line in tune.body):
        without = _clean(tune, strip_fingerings=True)
        if without.tune is not None:
            return without
    return result


def _clean(tune: Tune, strip_fingerings: bool) -> CleanResult:
    """clean_tune's one pass, fingerings stripped too or kept."""
    changes: set[str] = set()
    header = _strip_header(tune, changes)
    body = tuple(_strip_body_line(line, changes, strip_fingerings) for line in tune.body)
    cleaned = Tune(header, body, tune.source)
    verdict = check_text(cleaned.abc(1))
    if not verdict.every_bar_right and "Missing :| at end of tune" in verdict.problems:
        closed = Tune(header, _close_repeat(body), tune.source)
        closed_verdict = check_text(closed.abc(1))
        if closed_verdict.every_bar_right or len(closed_verdict.problems) < len(verdict.problems):
            cleaned, verdict = closed, closed_verdict
            changes.add("repeat closed at the end")
    if not verdict.every_bar_right:
        return CleanResult(None, sorted(changes), _reason(verdict.problems))
    return CleanResult(cleaned, sorted(changes))


@dataclass
class TuneCleaner:
    """clean_tune over a stream of tune texts, counting drops by reason and changes by kind."""

    dropped: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    kept: int = 0

    def text(self, text: str) -> str | None:
        """The cleaned text of a tune given as its text (Tune.text), or None if dropped."""
        result = clean_tune(normalise_tune(text.rstrip("\n").split("\n"), keep_metadata=True))
        if result.tune is None:
            self.dropped[f"unclean: {result.dropped}"] += 1
            return None
        self.kept += 1
        self.changes.update(f"cleaned: {change}" for change in result.changes)
        return result.tune.text
