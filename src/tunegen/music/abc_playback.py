"""Bar lengths as abc2midi judges them: it plays the tune through its repeats and endings.

abc2midi (abcmidi 2023-02-08) checks bars while it writes MIDI: it plays the tune, jumping back
at each `:|`, so a bar's time is counted as heard. The rules this module follows:

- A plain bar line `|` always closes the bar and checks it: a bar that is not empty and not the
  metre's length is wrong, except the very first bar of the tune (a pickup), unless it is
  played a second time ("in repeat"; abc2midi spares it again on a third pass).
- `||`, `|]`, `[|`, `|:`, `:|` and `::` close the bar only when it is full (or over-full), or
  when no bar has been counted yet; a short bar carries its time on into the next bar. So the
  short bar before `:|` is completed, on the second pass, by the bar that the repeat jumps back to
  (the section's pickup), and a short bar before `||` by the first bar after it.
- A repeat jumps back to the last `|:` or `::`. A `:|` with none before it jumps back to the last
  `||` or `:|` (that bar line becomes `|:` or `::`, "Assuming repeat"), or to the tune's start when
  no `|:` has been seen at all.
- An ending `[1`, `|2`, `:|2`, `[1,3` is played on the passes it names and skipped on the others,
  up to the next `:|`, `|:`, `||` or ending.
- After the second pass the tune goes on in "pass 2" until the next `|:` (so a bar before that is
  reported "in repeat" too); a `|:` left open at the end is "Missing :| at end of tune".

Features are appended as the tune is read; `Playback.advance` plays what it has not played yet,
so the state is always that of abc2midi on the tune read so far. Time is in integer ticks
(`abc_scan.TICKS` to a whole note); `BarCheck` gives whole notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

TICKS = 2**24 * 3**3 * 5**2 * 7**2 * 11 * 13  # ticks to a whole note (abc_scan's too)
# Bar line kinds, as abc2midi's store.c sees them ([| and |] count as ||).
SINGLE, DOUBLE, BAR_REP, REP_BAR, DOUBLE_REP = "|", "||", "|:", ":|", "::"
# Feature kinds.
DUR, BAR, PLAY, TIME = 0, 1, 2, 3


@dataclass(frozen=True)
class BarCheck:
    """A bar abc2midi warns about: its number, time and metre (whole notes) and the pass."""

    number: int  # abc2midi's bar number (bars with notes, from 0)
    written: int  # the bar as written (1-based) whose notes the check ended on
    time: Fraction
    meter: Fraction
    repeat_pass: int


_FIELDS = (
    "raw", "raw_size", "features", "size", "j", "pass_", "maxpass", "expect_repeat", "saved",
    "bar_time", "barno", "in_varend", "skipping", "meter", "initial_meter", "errors", "wrong",
    "rep_point", "fix_expect", "plays", "start_repeat", "written", "mend", "repeat_first",
)  # fmt: skip
_STOP_SKIP = frozenset({REP_BAR, BAR_REP, DOUBLE})


def slot_copier(fields: tuple[str, ...]) -> Callable[[object, object], None]:
    """A function that copies the named attributes from one object to another.

    Generated once, with one plain assignment per field: about ten times faster than a
    getattr/setattr loop, and backtracking copies a reader at every sampled symbol.
    """
    body = "".join(f"    new.{name} = old.{name}\n" for name in fields)
    namespace: dict[str, Callable[[object, object], None]] = {}
    exec(f"def copy_fields(old, new):\n{body}", namespace)
    return namespace["copy_fields"]


_copy_fields = slot_copier(_FIELDS)
# What playing changes (a replay from the start recomputes these and keeps the rest).
_copy_played = slot_copier(
    ("j", "pass_", "maxpass", "expect_repeat", "saved", "bar_time", "barno", "written",
     "in_varend", "skipping", "meter", "errors", "wrong")
)  # fmt: skip


class Playback:
    """abc2midi's `writetrack` walk over the features of one voice, resumable as features arrive.

    A feature is a (kind, value) pair: (DUR, (ticks, written bar number)) time, (BAR, kind) a
    bar line, (PLAY, frozenset of pass numbers) an ending, (TIME, ticks or None) a metre change.
    `raw` holds them as written, `features` as abc2midi mends them (its `fixreps`), `j` is the
    next one to play. Copies share both lists; one that appends where another appended first
    takes its own copy. `errors` and `wrong` (the bars abc2midi warns about) are tuples,
    shared by copies too.
    """

    __slots__ = _FIELDS

    def __init__(
        self,
        meter: int | None,
        start_repeat: bool = False,
        mend: bool = True,
        repeat_first: bool = False,
    ) -> None:
        """Start a voice in `meter` ticks (None: free metre). `mend=False` for tunes of two
        voices or more, where abc2midi does not mend repeats (no fixreps). `repeat_first`: the
        |: that an early :| jumps back to goes before the first music line's ||, not after it
        (a voice a V: line names: a repeat played again closes, as its first bar, the time
        the bar before :| left)."""
        self.raw: list[tuple[int, object]] = []
        self.raw_size = 0
        # abc2midi puts a || before the first music line (and a |: after it when the tune has
        # a :| before any |:, scan_for_missing_repeats): where an early :| jumps back to.
        self.features: list[tuple[int, object]] = [(BAR, DOUBLE)]
        self.size = 1
        self.j = 0
        self.pass_ = 1
        self.maxpass = 2
        self.expect_repeat = False
        self.saved: tuple[int, int, int | None] = (0, 0, meter)
        self.bar_time = 0
        self.barno = 0
        self.in_varend = False
        self.skipping = False
        self.meter = meter
        self.initial_meter = meter
        self.errors: tuple[str, ...] = ()
        self.wrong: tuple[BarCheck, ...] = ()
        self.rep_point = 0  # fixreps(): where a :| with no |: before it jumps back to
        self.fix_expect = False
        self.plays = 0
        self.start_repeat = start_repeat
        self.mend = mend
        self.repeat_first = repeat_first
        self.written = 0  # the written bar whose time was played last
        if start_repeat:
            self.features.insert(0 if repeat_first else 1, (BAR, BAR_REP))
            self.size = 2
            self.fix_expect = True
        self.advance()

    def copy(self) -> Playback:
        """An independent copy (cheap: the lists are shared until one side appends)."""
        other = Playback.__new__(Playback)
        _copy_fields(self, other)
        return other

    def _error(self, message: str) -> None:
        self.errors = (*self.errors, message)

    # -- taking features in ----------------------------------------------------------------------

    def add(self, kind: int, value: object) -> None:
        """Append one feature as written, mend it as abc2midi would, and play what can be."""
        if len(self.raw) != self.raw_size:
            self.raw = self.raw[: self.raw_size]
        self.raw.append((kind, value))
        self.raw_size += 1
        if (
            kind == BAR
            and value in (REP_BAR, DOUBLE_REP)
            and not self.start_repeat
            and not any(f == (BAR, BAR_REP) for f in self.raw)
        ):
            self._restart()  # the whole tune reads differently with the |: put at its start
        else:
            self._take(kind, value)

    def lengthen(self, index: int, ticks: int, before: Playback | None = None) -> None:
        """Add `ticks` to the time feature `raw[index]` (a note lengthened by broken rhythm
        after its bar was played) and play the voice again from there: abc2midi adjusts notes
        as it reads them and plays (and checks bars) once the tune is read. `before`: this voice
        as it was just before `raw[index]` was added, if known, so that only the features after
        it are played again (else the whole voice is)."""
        kind, (time, written) = self.raw[index]  # type: ignore[misc]
        later = self.raw[index + 1 : self.raw_size]
        if (
            before is not None
            and before.raw_size == index
            and (index == 0 or before.raw[index - 1] is self.raw[index - 1])  # the same voice
        ):
            fresh = before.copy()
            fresh.add(kind, (time + ticks, written))
            for feature in later:
                fresh.add(*feature)
        else:
            raw = self.raw[: self.raw_size]  # a list of its own: copies share the old one
            raw[index] = (kind, (time + ticks, written))
            fresh = self._replayed(raw, self.raw_size, self.start_repeat, self.mend)
        self._become(fresh)

    def without_mending(self) -> Playback:
        """This voice read again as abc2midi reads voices of a tune with several: no fixreps."""
        return self._replayed(self.raw, self.raw_size, self.start_repeat, mend=False)

    def named_by_a_line(self) -> Playback:
        """This voice read again as the voice of a V: field line (see `repeat_first`)."""
        return self._replayed(
            self.raw, self.raw_size, self.start_repeat, self.mend, repeat_first=True
        )

    def _restart(self) -> None:
        self._become(self._replayed(self.raw, self.raw_size, True, self.mend))

    def _replayed(
        self,
        raw: list[tuple[int, object]],
        size: int,
        start_repeat: bool,
        mend: bool,
        repeat_first: bool | None = None,
    ) -> Playback:
        """A new voice in this one's first metre that has played `raw[:size]` as written."""
        first = self.repeat_first if repeat_first is None else repeat_first
        fresh = Playback(self.initial_meter, start_repeat, mend, first)
        for kind, value in raw[:size]:
            fresh._take(kind, value)
        fresh.raw, fresh.raw_size = raw, size
        return fresh

    def _become(self, other: Playback) -> None:
        """Take every field of `other` (played again) as this voice's own."""
        for name in _FIELDS:
            setattr(self, name, getattr(other, name))

    def _append(self, feature: tuple[int, object]) -> None:
        if len(self.features) != self.size:
            self.features = self.features[: self.size]
        self.features.append(feature)
        self.size += 1

    def _take(self, kind: int, value: object) -> None:
        if kind == PLAY:
            if self.plays == 0 and not self.fix_expect and self.mend:
                self._error("found [1 or like before |:")
                self._place_start_repeat()
            self.plays += 1
        elif kind == BAR:
            if value == SINGLE and self.features[self.size - 1][0] == TIME:
                # check_for_timesig_preceding_bar_line: a metre change just before | goes after.
                time = self.features[self.size - 1]
                self.features = self.features[: self.size - 1]
                self.size -= 1
                self._append((BAR, SINGLE))
                self._append(time)
                self.advance()
                return
            value = self._fix(value)  # type: ignore[arg-type]
        self._append((kind, value))
        self.advance()

    def _fix(self, kind: str) -> str:
        """fixreps(): mend repeats that lack their start; return the kind the bar line gets."""
        if not self.mend:
            return kind
        if kind == DOUBLE:
            self.rep_point = self.size
        elif kind == BAR_REP:
            if self.fix_expect:
                self._error("found another |: after a |:")
                kind = DOUBLE_REP
            self.fix_expect = True
        elif kind == REP_BAR:
            if not self.fix_expect and self.plays < 1:
                self._place_start_repeat()
            self.fix_expect = False
            self.rep_point = self.size
        elif kind == DOUBLE_REP:
            if not self.fix_expect:
                self._error("found :: before |:")
                self._place_start_repeat()
            self.fix_expect = True
        return kind

    def _place_start_repeat(self) -> None:
        """placestartrep(): the bar line at the repeat point becomes the repeat's start."""
        kind = self.features[self.rep_point][1]
        new = {DOUBLE: BAR_REP, SINGLE: BAR_REP, REP_BAR: DOUBLE_REP}.get(kind)  # type: ignore[call-overload]
        if new is None:
            self._error("Too many end repeats")
            return
        self.features = self.features[: self.size]
        self.features[self.rep_point] = (BAR, new)
        # Play again from the start: a bar line already played has changed its kind.
        fresh = Playback(self.initial_meter)
        fresh.features, fresh.size, fresh.errors = self.features, self.size, self.errors
        fresh.j = 0
        fresh.advance()
        _copy_played(fresh, self)

    # -- playing -------------------------------------------------------------------------------

    def advance(self) -> None:
        """Play the features not played yet (abc2midi's writetrack loop)."""
        features = self.features
        while self.j < self.size:
            kind, value = features[self.j]
            if kind == TIME and self.j == self.size - 1 and not self.skipping:
                return  # wait: a | right after it would be played first
            self.j += 1
            if self.skipping:
                # An ending not for this pass: skip to the next :|, |:, || or ending, and step
                # over that one too (writetrack's j = j + 1 after the skip).
                if (kind == BAR and value in _STOP_SKIP) or kind == PLAY:
                    self.skipping = False
                    self.barno += 1
            elif kind == DUR:
                self.bar_time += value[0]  # type: ignore[index]
                self.written = value[1]  # type: ignore[index]
            elif kind == BAR:
                self._bar(value)  # type: ignore[arg-type]
            elif kind == PLAY:
                self._play(value)  # type: ignore[arg-type]
            else:
                self.meter = value  # type: ignore[assignment]

    def _check(self) -> None:
        """checkbar(): judge the bar just closed and start a new one."""
        time, meter = self.bar_time, self.meter
        if meter is not None and time and time != meter and (self.pass_ == 2 or self.barno != 0):
            where = self.written
            check = BarCheck(
                self.barno, where, Fraction(time, TICKS), Fraction(meter, TICKS), self.pass_
            )
            self.wrong = (*self.wrong, check)
        if time:
            self.barno += 1
        self.bar_time = 0

    def _bar(self, kind: str) -> None:
        if kind == SINGLE:
            self._check()
            return
        self.in_varend = False
        # softcheckbar(): a repeat or double bar closes only a full bar (or the first).
        if self.meter is not None and (self.bar_time >= self.meter or self.barno <= 0):
            self._check()
        if kind == BAR_REP:
            if self.pass_ == 1 and self.expect_repeat:
                self._error("Expected end repeat not found at |:")
            self.saved = (self.j, self.barno, self.meter)
            self.expect_repeat, self.pass_, self.maxpass = True, 1, 2
        elif kind == REP_BAR:
            if self.pass_ == 1:
                if not self.expect_repeat:
                    self._error("Found unexpected :|")
                else:
                    self._jump_back()
                    self.expect_repeat = False
            elif self.pass_ < self.maxpass:
                self.expect_repeat = False
                self._jump_back()
        elif kind == DOUBLE_REP:
            if self.pass_ > 1:
                self.expect_repeat = True
                self.saved = (self.j, self.barno, self.meter)
                self.pass_, self.maxpass = 1, 2
            elif not self.expect_repeat:
                self._error("Found unexpected ::")
                self.expect_repeat = True
                self.saved = (self.j, self.barno, self.meter)
            else:
                self._jump_back()

    def _jump_back(self) -> None:
        self.pass_ += 1
        self.j, self.barno, self.meter = self.saved

    def _play(self, passes: frozenset[int]) -> None:
        if self.in_varend:
            self._error("Need || |: :| or :: to mark end of variant ending")
        number = self.pass_ if (self.expect_repeat or self.pass_ > 1) else -1
        if number == -1:
            self._error("multiple endings do not follow |: or ::")
            number = 1
        if number not in passes:
            self.skipping = True
        else:
            self.in_varend = True
            if self.maxpass < 4:
                self.maxpass = self.pass_ + 1

    def end_errors(self) -> tuple[str, ...]:
        """Errors abc2midi would add if the tune ended here."""
        errors: tuple[str, ...] = ()
        if self.skipping:
            errors += ("Cannot find :| || [| or |] to close variant ending",)
        if self.expect_repeat and self.pass_ == 1:
            errors += ("Missing :| at end of tune",)
        return errors
