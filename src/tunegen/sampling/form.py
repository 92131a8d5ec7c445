"""Form control: which parts a tune has, how many bars each, and the rhythm (R:) with its metre."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunegen.errors import Setting, SettingError
from tunegen.music.abc_rules import rhythm_problem

MAX_BARS_PER_PART = 64
# Rhythms (R:) and the metres that go with them; the first is written when no --meter is given.
# abc2midi itself refuses R:hornpipe outside 2/4 and 4/4 (store.c, "Hornpipe must be in 2/4 or
# 4/4 time"); the others follow the usual session conventions.
RHYTHMS: dict[str, tuple[str, ...]] = {
    "jig": ("6/8",),
    "double jig": ("6/8",),
    "single jig": ("6/8",),
    "slip jig": ("9/8",),
    "hop jig": ("9/8",),
    "slide": ("12/8",),
    "reel": ("4/4", "C", "C|", "2/2"),
    "hornpipe": ("4/4", "C", "2/4"),
    "barndance": ("4/4", "C"),
    "strathspey": ("4/4", "C"),
    "fling": ("4/4", "C"),
    "polka": ("2/4",),
    "march": ("2/4", "4/4", "C", "6/8"),
    "waltz": ("3/4",),
    "mazurka": ("3/4",),
    "air": (),  # any metre
}
_PART_LETTERS = re.compile(r"[A-Z]+")


def metre_value(meter: str) -> str:
    """An M: value in one spelling for comparisons: "C" -> "4/4", "C|" -> "2/2", blanks dropped."""
    meter = meter.replace(" ", "")
    return {"C": "4/4", "C|": "2/2"}.get(meter, meter)


def rhythm_fits(rhythm: str, meter: str) -> bool:
    """Whether R:`rhythm` goes with M:`meter` (an unknown rhythm fits any metre)."""
    if rhythm_problem(rhythm, meter):  # abc2midi's own rule (hornpipes)
        return False
    metres = RHYTHMS.get(rhythm.strip().lower(), ())
    return not metres or metre_value(meter) in {metre_value(m) for m in metres}


@dataclass(frozen=True)
class FormPlan:
    """The parts of every tune (e.g. "AABB"), bars per part (None: the model's choice) and rhythm.

    Adjacent equal letters are one part played with repeat signs (AABB: |: A :| |: B :|); a letter
    that comes back later (ABA) is written out again.
    """

    form: str | None = None
    bars_per_part: int | None = None
    rhythm: str | None = None

    def validate(self, meter: str | None = None) -> None:
        """UsageError, one line, for a form, bar count or rhythm that cannot be followed."""
        if self.form is not None and not _PART_LETTERS.fullmatch(self.form):
            raise SettingError(
                Setting("form"), f" takes part letters A-Z such as AABB, got {self.form!r}"
            )
        if self.bars_per_part is not None and not 1 <= self.bars_per_part <= MAX_BARS_PER_PART:
            raise SettingError(
                Setting("bars_per_part"),
                f" must be 1 to {MAX_BARS_PER_PART}, got {self.bars_per_part}",
            )
        if self.bars_per_part is not None and self.form is None:
            raise SettingError(
                Setting("bars_per_part"), " needs ", Setting("form"), " (e.g. ", Setting("form"),
                " AABB)",
            )  # fmt: skip
        if self.rhythm is not None:
            if self.rhythm.strip().lower() not in RHYTHMS:
                raise SettingError(
                    "unknown ",
                    Setting("rhythm"),
                    f" {self.rhythm!r}; choose from {', '.join(RHYTHMS)}",
                )
            if meter is not None and not rhythm_fits(self.rhythm, meter):
                usual = " or ".join(RHYTHMS[self.rhythm.strip().lower()])
                raise SettingError(
                    Setting("rhythm"), f" {self.rhythm} is in {usual}, not ", Setting("meter"),
                    f" {meter}",
                )  # fmt: skip

    def meter(self) -> str | None:
        """The usual metre of the rhythm, if one was chosen."""
        metres = RHYTHMS.get((self.rhythm or "").strip().lower(), ())
        return metres[0] if metres else None

    def sections(self) -> list[tuple[str, int]]:
        """Runs of equal part letters: "AABBA" -> [("A", 2), ("B", 2), ("A", 1)]."""
        runs: list[tuple[str, int]] = []
        for letter in self.form or "":
            if runs and runs[-1][0] == letter:
                runs[-1] = (letter, runs[-1][1] + 1)
            else:
                runs.append((letter, 1))
        return runs

    @property
    def active(self) -> bool:
        return self.form is not None
