"""The limits a tune must keep to be rendered or evaluated, all in one place, checked before work.

A tune such as `M:1000000/1` hangs music21 for minutes at gigabytes, `A200000` asks for an 8 GiB
WAV and `Q:1/4=0.001` for 39 GiB. These checks read the text (no music21), so a tune over a
limit costs milliseconds and one line in its report; the worker's time limit
(tunegen.runtime.worker) catches whatever gets past them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from tunegen.errors import RenderError
from tunegen.music.abc import FIELD_LINE, Tune
from tunegen.music.abc_rhythm import parse_unit, read_bars
from tunegen.music.midi_io import Performance


@dataclass(frozen=True)
class TuneLimits:
    """What one tune may ask of a render. The README's "Limits" paragraph copies these."""

    max_seconds: float = 600.0  # playing time, repeats written out: 10 minutes
    max_note_seconds: float = 30.0  # one note (or rest)
    min_qpm: float = 20.0  # tempo (Q:), in quarter notes per minute
    max_qpm: float = 400.0
    max_notes: int = 5_000  # notes and rests as written
    max_bars: int = 1_000  # bars as written
    max_meter_beats: int = 32  # M: numerator; the denominator is a power of two up to 64
    max_wav_bytes: int = 64 * 2**20  # 16-bit mono 44.1 kHz: about 12 minutes
    tune_seconds: float = 60.0  # time limit of each worker call on one tune (play, sheet, check)


LIMITS = TuneLimits()
METER_DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)
BYTES_PER_SECOND = 44_100 * 2  # the WAV the built-in synth and fluidsynth write (mono, 16-bit)
_METER = re.compile(r"\(?(\d+(?:\+\d+)*)\)?\s*/\s*(\d+)")
_INLINE = re.compile(r"\[([MLQ]):([^\]]*)\]")
_TEMPO = re.compile(r"((?:\d+/\d+\s*)+)=\s*(\d+(?:\.\d*)?)")
_BARE_TEMPO = re.compile(r"\s*(\d+(?:\.\d*)?)\s*$")


def check_meter(value: str, allow_free: bool = True, limits: TuneLimits = LIMITS) -> None:
    """Raise ValueError naming the metre unless an M: value is C, C|, N/D with 1 <= N <=
    max_meter_beats and D a power of two up to 64 (ABC 2.1 section 3.1.6), or `none` (free
    metre) when `allow_free`."""
    text = value.strip()
    if text in ("C", "C|") or (allow_free and text.lower() == "none"):
        return
    match = _METER.fullmatch(text)
    if match:
        beats = sum(int(part) for part in match.group(1).split("+"))
        if 1 <= beats <= limits.max_meter_beats and int(match.group(2)) in METER_DENOMINATORS:
            return
    raise ValueError(
        f"unknown or unplayable metre {value!r} in the M: field (use C, C| or N/D with "
        f"N 1-{limits.max_meter_beats} and D one of {', '.join(map(str, METER_DENOMINATORS))})"
    )


def tempo_qpm(value: str, unit: Fraction) -> float | None:
    """Quarter notes per minute of a Q: value ("1/4=120", "3/8=60", "1/4 1/8=50", "120": unit
    notes per minute, ABC 2.1 section 3.1.8); None if it gives no number."""
    match = _TEMPO.search(value)
    if match:
        beat = sum(Fraction(part) for part in match.group(1).split() if "/" in part)
        return float(match.group(2)) * float(beat) * 4
    bare = _BARE_TEMPO.fullmatch(value)
    return float(bare.group(1)) * float(unit) * 4 if bare else None


def _fields(tune: Tune) -> list[tuple[str, str]]:
    """M:, L: and Q: fields of the header, body lines and inline [X:...] fields, in order."""
    found = [(name, value) for name, value in tune.header if name in "MLQ"]
    for line in tune.body:
        field_line = FIELD_LINE.match(line)
        if field_line:
            found.append((field_line.group(1), field_line.group(2)))
        else:
            found += _INLINE.findall(line)
    return found


def check_tune(tune: Tune, limits: TuneLimits = LIMITS) -> None:
    """Raise RenderError (one line: which limit, and the tune's figure) if rendering `tune`
    would go past `limits`: its metre, tempo, notes, bars, longest note or playing time."""
    unit = parse_unit(tune.field("L"), None)
    tempos = []
    for name, value in _fields(tune):
        if name == "M":
            try:
                check_meter(value, limits=limits)
            except ValueError as err:
                raise RenderError(str(err)) from None
        elif name == "L":
            unit = parse_unit(value, None)
        elif name == "Q" and (qpm := tempo_qpm(value, unit)) is not None:
            if not limits.min_qpm <= qpm <= limits.max_qpm:
                raise RenderError(
                    f"tempo Q:{value.strip()} is {qpm:g} quarter notes a minute; "
                    f"the limits are {limits.min_qpm:g}-{limits.max_qpm:g}"
                )
            tempos.append(qpm)
    # durations are timed at the slowest tempo given; music21's default is 120 (or faster)
    slowest = min(tempos, default=120.0)
    try:
        bars = read_bars(tune)
    except (ArithmeticError, ValueError) as err:  # e.g. a "(0" tuplet
        raise RenderError(f"rhythm not understood ({type(err).__name__}: {err})") from None
    notes = [note for bar in bars for note in bar.notes]
    if len(notes) > limits.max_notes:
        raise RenderError(f"{len(notes):,} notes; the limit is {limits.max_notes:,} a tune")
    if len(bars) > limits.max_bars:
        raise RenderError(f"{len(bars):,} bars; the limit is {limits.max_bars:,} a tune")
    seconds_per_whole = 4 * 60 / slowest
    longest = max((note.duration for note in notes), default=Fraction(0))
    if longest * seconds_per_whole > limits.max_note_seconds:
        raise RenderError(
            f"a note lasts {float(longest * seconds_per_whole):,.0f} s; the limit is "
            f"{limits.max_note_seconds:g} s"
        )
    rests = sum(bar.rest_bars * (bar.meter or 1) for bar in bars)
    total = (sum(note.duration for note in notes) + rests) * seconds_per_whole
    if total > limits.max_seconds:
        raise RenderError(
            f"plays for {float(total):,.0f} s; the limit is {limits.max_seconds:g} s a tune"
        )


def check_performance(performance: Performance, limits: TuneLimits = LIMITS) -> None:
    """Raise RenderError if a played tune (repeats written out) is over the time or WAV limit."""
    seconds = performance.seconds(performance.end)
    if seconds > limits.max_seconds:
        raise RenderError(
            f"plays for {seconds:,.0f} s with its repeats; the limit is {limits.max_seconds:g} s"
        )
    wav_bytes = (seconds + 1) * BYTES_PER_SECOND
    if wav_bytes > limits.max_wav_bytes:
        raise RenderError(
            f"its WAV would take {wav_bytes / 2**20:,.0f} MiB; the limit is "
            f"{limits.max_wav_bytes / 2**20:g} MiB"
        )
