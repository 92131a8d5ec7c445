"""Bar-length checks in the manner of abc2midi's warnings, and the structure of a tune."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from tunegen.music.abc import Tune
from tunegen.music.abc_rhythm import Bar, read_bars


@dataclass(frozen=True)
class MetreResult:
    """How many bars of a tune have the length its metre asks for, and which do not (1-based)."""

    bars_right: int
    bars_total: int
    wrong: tuple[int, ...] = ()

    @property
    def share(self) -> float | None:
        """Share of bars that are right; None when no bar could be checked (no or free metre)."""
        return self.bars_right / self.bars_total if self.bars_total else None

    @property
    def all_right(self) -> bool:
        return self.bars_total > 0 and self.bars_right == self.bars_total


@dataclass(frozen=True)
class Structure:
    """Length in bars, number of parts and number of repeats (:| and ::) of a tune."""

    bars: int
    parts: int
    repeats: int


@dataclass
class _Counted:
    """A bar with music in it, and whether it opens or closes a section."""

    bar: Bar
    opens: bool
    closes: bool = False


def _counted_bars(bars: list[Bar]) -> list[_Counted]:
    """Bars with notes or a multi-bar rest; empty bars only pass on their section boundary."""
    counted: list[_Counted] = []
    boundary = True  # the tune's first bar opens a section
    for bar in bars:
        boundary = boundary or bool(bar.ending)
        if bar.notes or bar.rest_bars:
            if boundary and counted:
                counted[-1].closes = True
            counted.append(_Counted(bar, boundary))
            boundary = False
        # Any bar line but a plain "|" (||, |], [|, |:, :|, ::) starts a new section.
        boundary = boundary or bar.end not in ("", "|")
    if counted:
        counted[-1].closes = True
    return counted


def _sections(counted: list[_Counted]) -> list[list[int]]:
    """Indices of the counted bars, grouped by section."""
    sections: list[list[int]] = []
    for index, item in enumerate(counted):
        if item.opens:
            sections.append([])
        sections[-1].append(index)
    return sections


def _partners(index: int, counted: list[_Counted], sections: list[list[int]]) -> set[int]:
    """Bars that a short bar at a section edge may make a full bar with (pickups and their ends)."""
    number = next(n for n, section in enumerate(sections) if index in section)
    near = sections[max(number - 1, 0) : number + 2]
    partners: set[int] = set()
    if counted[index].opens:
        partners.update(section[-1] for section in sections[max(number - 1, 0) : number + 1])
    if counted[index].closes:
        partners.update(section[0] for section in near)
        partners.add(0)
    partners.discard(index)
    return partners


def check_bars(bars: list[Bar]) -> MetreResult:
    """Count bars of the right length: the first and last bar may be short, and so may a bar at a
    repeat, double bar or ending when it makes a full bar with a short bar across that edge."""
    counted = _counted_bars(bars)
    sections = _sections(counted)
    right = total = 0
    wrong: list[int] = []
    for index, item in enumerate(counted):
        meter = item.bar.meter
        if meter is None:
            continue
        if item.bar.rest_bars and not item.bar.notes:
            right, total = right + item.bar.rest_bars, total + item.bar.rest_bars
            continue
        total += 1
        if _bar_is_right(index, counted, sections, meter):
            right += 1
        else:
            wrong.append(index + 1)
    return MetreResult(right, total, tuple(wrong))


def _bar_is_right(
    index: int, counted: list[_Counted], sections: list[list[int]], meter: Fraction
) -> bool:
    length = counted[index].bar.duration
    if length == meter:
        return True
    if length > meter:
        return False
    if index in (0, len(counted) - 1):
        return True
    item = counted[index]
    if not (item.opens or item.closes):
        return False
    partners = _partners(index, counted, sections)
    return any(length + counted[other].bar.duration == meter for other in partners)


def metre_share(tune: Tune) -> MetreResult:
    """Bars of `tune` whose length matches its metre (M:, L: and inline changes)."""
    return check_bars(read_bars(tune))


def structure(tune: Tune) -> Structure:
    """Bars, parts (sections closed by a repeat or double bar) and repeats of `tune`."""
    return bar_structure(read_bars(tune))


def bar_structure(bars: list[Bar]) -> Structure:
    """Bars, parts and repeats of a tune read with `read_bars`."""
    length = sum(bar.rest_bars or 1 for bar in bars if bar.notes or bar.rest_bars)
    parts = repeats = since_close = 0
    for bar, following in zip(bars, [*bars[1:], None], strict=True):
        since_close += bool(bar.notes or bar.rest_bars)
        repeats += bar.end.startswith(":")
        # A first ending's :| does not close the part: the second ending follows. Nor does a
        # pickup before |: make a part of its own.
        in_endings = following is not None and following.ending[:1] not in ("", "1")
        closes = bar.end.startswith(":") or "||" in bar.end or "]" in bar.end or since_close > 1
        if bar.end not in ("", "|") and since_close and closes and not in_endings:
            parts, since_close = parts + 1, 0
    return Structure(length, parts + bool(since_close), repeats)
