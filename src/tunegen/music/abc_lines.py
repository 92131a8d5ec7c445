"""Reading an ABC tune's lines as abc2midi does: header fields, body fields, voices, the end."""

from __future__ import annotations

import re
from fractions import Fraction

from tunegen.music import abc_playback as pb
from tunegen.music.abc_body import BodyReader
from tunegen.music.abc_events import to_ticks
from tunegen.music.abc_rules import (
    abbreviation_problem,
    field_line,
    info_problem,
    key_problem,
    meter_counts,
    parse_meter,
    rhythm_problem,
    tempo_problem,
)
from tunegen.music.abc_syntax import key_signature

_FIELD_LINE = re.compile(r"^([A-Za-z+]):(.*)$")


class LineReader(BodyReader):
    """Methods that read a tune's lines and fields into `AbcScanner`'s state (its `__slots__`)."""

    __slots__ = ()

    # -- lines -------------------------------------------------------------------------------

    def _end_line(self) -> None:
        line, self.pending = self.pending, ""
        if self.in_header:
            self._header_line(line)
        elif not line.strip() and self.line_start:
            self._end_tune()
        else:
            found = field_line(line) if self.line_start else None
            if found is not None:
                self._body_field(found[0], found[1], inline=False)
            else:
                self.pending = line
                self._consume(final=True)
                self.pending = ""
        self.line_start = True

    def _header_line(self, line: str) -> None:
        line = line.split("%", 1)[0] if not line.startswith("%%") else ""
        match = _FIELD_LINE.match(line.strip())
        if match is None:
            if line.strip():
                self._error(f"Unrecognized header line: {line.strip()[:40]}")
            return
        name, value = match.group(1), match.group(2).strip()
        self.header = (*self.header, (name, value))
        if name not in self._header_fields:  # a new dict: the scanner's copies share this one
            self._header_fields = {**self._header_fields, name: value}
        if name == "M":
            self._set_meter(value, header=True)
        elif name == "L":
            self._set_unit(value)
        elif name == "R":
            self.rhythm = value
        elif name == "Q":
            self._field_problem(tempo_problem(value))
        elif name == "U":
            self._field_problem(abbreviation_problem(value))
        elif name == "I":
            self._field_problem(info_problem(value))
        elif name == "P":
            self._error("P: field in header should go after K: field")
        elif name == "V":
            self._switch_voice(value, line=True)
        elif name == "K":
            self._set_key(value, header=True)
            self._start_body()

    def _start_body(self) -> None:
        self.in_header = False
        if "M" not in self._header_fields:
            self._warnings = (*self._warnings, "No M: in header, using default")
        if not self.unit_set:
            short = self.meter is not None and self.meter < Fraction(3, 4)
            self.unit = Fraction(1, 16) if short else Fraction(1, 8)
            self._unit = to_ticks(self.unit)
        problem = rhythm_problem(self.rhythm, self._header_fields.get("M")) if self.rhythm else None
        if problem:
            self._error(problem)
        elif self.rhythm.lstrip().startswith(("hornpipe", "Hornpipe")):
            counts = meter_counts(self._header_fields.get("M") or "4/4")
            self._hornpipe = True
            self._horn_meter = counts[0] if counts else 4
        self.play = pb.Playback(self._meter, repeat_first=self._voice is not None)

    def _set_meter(self, value: str, header: bool) -> None:
        meter, problem = parse_meter(value)
        if problem:
            self._error(problem)
            return
        self.meter, self.meter_text = meter, value.strip()
        self._meter = None if meter is None else to_ticks(meter)
        if not header:
            self._flush_time()
            self.play.add(pb.TIME, self._meter)

    def _set_unit(self, value: str) -> None:
        match = re.match(r"\s*(\d*)\s*(/?)\s*(\d*)", value)
        assert match is not None
        num, slash, den = match.groups()
        if not slash:
            self._error("Missing /")
            return
        if not den or int(den) == 0 or int(den) & (int(den) - 1):
            self._error("Expecting fraction in form A/B")
            return
        if num and int(num) > 1:  # L:9/8, L:2/4: abc2midi keeps the unit it had
            self._error("Default length must be 1/X")
            return
        self.unit = Fraction(1, int(den))
        self._unit = to_ticks(self.unit)
        self.unit_set = True

    def _set_key(self, value: str, header: bool) -> None:
        problem = key_problem(value)
        if problem and (header or not problem.startswith("First")):
            self._error(problem)
        self.key = {k.lower(): v for k, v in key_signature(value).items()}

    def _body_field(self, name: str, value: str, inline: bool) -> None:
        if name == "M":
            self._set_meter(value, header=False)
        elif name == "L":
            self._set_unit(value)
        elif name == "K":
            self._set_key(value, header=False)
        elif name == "Q":
            self._field_problem(tempo_problem(value))
        elif name == "I":
            self._field_problem(info_problem(value))
        elif name in "TWwsdE+":
            # text, lyrics, decorations (parseabc.c: EIKLMPQTVdrswW+ may stand in the body,
            # and r: is read as music; the others are errors)
            pass
        elif name == "P":
            self._warnings = (
                *self._warnings,
                "P: in the body is not followed as parts",
            )
        elif name == "V":
            self._switch_voice(value, line=not inline)
        else:
            self._error("Field not allowed in tune body")

    def _switch_voice(self, value: str, line: bool) -> None:
        """V: or [V:]: each voice is a track of its own, with its own bars and repeats.

        The music before the first V: belongs to the first voice named (abc2midi: "will combine
        this body with this voice"). With two voices or more abc2midi mends no repeats (no
        fixreps), so every voice's playback is rebuilt without them. A first voice named by a
        V: line (not an inline [V:]) repeats from before its first bar line (`repeat_first`).
        """
        words = value.split()
        name = words[0] if words else ""
        if self._voice is None:  # the first voice named: the music so far is its own
            self._voice = name
            self._voice_names = (name,)
            if line and not self.in_header:
                self.play = self.play.named_by_a_line()
            return
        if name == self._voice:
            return
        self._flush_time()
        saved = (self.play, self._bar_closed_time, self._bar_pending, self._store_pos)
        voices = {**self._voices, self._voice: saved}
        if name not in self._voice_names:
            self._voice_names = (*self._voice_names, name)
            if len(self._voice_names) == 2:  # abc2midi mends repeats only in one-voice tunes
                voices = {k: (v[0].without_mending(), *v[1:]) for k, v in voices.items()}
            voices[name] = (pb.Playback(self._meter, mend=False), 0, False, 0)
        state = voices.pop(name)
        self.play = state[0].copy()
        self._bar_closed_time, self._bar_pending, self._store_pos = state[1:]
        self._voices = voices
        self._voice = name
        self._voice_errors = tuple(e for v in voices.values() for e in v[0].errors)
        self._voice_wrong = tuple(w for v in voices.values() for w in v[0].wrong)

    def _end_tune(self) -> None:
        self._flush_time()
        for state in self._voices.values():
            self._errors += state[0].end_errors()
        if self._tie:
            self._error("Could not find note to be tied")
            self._tie = False
        if self._grace_open or self._in_grace:
            self._error("No note found to follow grace notes")
        if self._in_chord and self._chord_notes:
            # abc2midi leaves the chord's notes sounding (or overflows its queue of 50 notes).
            self._error("Sustained notes beyond end of track")
        self._errors += self.play.end_errors()
        self.ended = True
