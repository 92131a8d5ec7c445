"""The bar check, as abc2midi judges bars and repeats, and the structure of a tune."""

from __future__ import annotations

from dataclasses import dataclass

from tunegen.music.abc import Tune
from tunegen.music.abc_rhythm import Bar, read_bars
from tunegen.music.abc_scan import AbcScanner, ScanVerdict, scan_text


@dataclass(frozen=True)
class MetreResult:
    """Bars of a tune abc2midi finds the right length, which not (1-based, as written), and
    whether it reports no error at all. `all_right` is abc2midi's "every bar right" verdict."""

    bars_right: int
    bars_total: int
    wrong: tuple[int, ...] = ()
    no_error: bool = True
    problems: tuple[str, ...] = ()

    @property
    def share(self) -> float | None:
        """Share of bars that are right; None when no bar could be checked (no or free metre)."""
        return self.bars_right / self.bars_total if self.bars_total else None

    @property
    def all_right(self) -> bool:
        """No error and every bar right (abc2midi's verdict); a tune with no bar fails."""
        return self.no_error and self.bars_total > 0 and self.bars_right == self.bars_total


@dataclass(frozen=True)
class Structure:
    """Length in bars, number of parts and number of repeats (:| and ::) of a tune."""

    bars: int
    parts: int
    repeats: int


def check_tune(tune: Tune | str) -> ScanVerdict:
    """abc2midi's verdict on one tune: (no error, every bar right, problems).

    Reads the tune with `abc_scan.AbcScanner`, which follows abc2midi's rules: a bar is checked
    as it is played through repeats and endings, the short bar before `:|` must make one bar
    with the section's pickup, and a repeat jumps back where abc2midi jumps (see abc_playback).
    """
    return _scan(tune).verdict()


def _scan(tune: Tune | str) -> AbcScanner:
    return scan_text(tune if isinstance(tune, str) else tune.abc(1))


def metre_share(tune: Tune | str) -> MetreResult:
    """Bars of `tune` abc2midi finds the right length (M:, L:, inline changes, repeats)."""
    scan = _scan(tune)
    verdict = scan.verdict()
    checked = [bar for bar in scan.bars if bar.meter is not None]
    total = len(checked) + (scan.open_bar and scan.meter is not None)
    wrong = tuple(sorted({w.written for w in scan.wrong_bars if w.written}))
    right = max(total - len(wrong), 0)
    return MetreResult(right, total, wrong, verdict.no_error, verdict.problems)


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
