"""Reading an ABC tune body as abc2midi does, token by token. `BodyReader` is the body-reading
half of `abc_scan.AbcScanner` (the events its tokens make are `abc_events.BodyEvents`); the scanner
holds the state and reads the header and the lines."""

from __future__ import annotations

import re

from tunegen.music import abc_playback as pb
from tunegen.music.abc_events import BodyEvents, _length
from tunegen.music.abc_rules import FIELD_LETTERS, length_problem

# abc2midi's one-letter decorations (parseabc.c), H is a fermata: it doubles the note.
_DECORATION_CHARS = ".MLRH~Tuv'OPS"
_NOTE = re.compile(
    r"(?P<deco>[.MLRH~Tuv'OPS]*)(?P<acc>\^\^|\^|__|_|=\^|=_|=)?(?P<micro>\d*/\d*|\d+)?"
    r"(?P<letter>[A-Ga-g])(?P<octave>[',]*)(?P<num>\d*)(?P<slashes>/*)(?P<den>\d*)"
)
_LENGTH_CHARS = frozenset("0123456789/")
# Pending text that takes no time and closes no bar, whatever bar line follows it.
_NO_TIME_PENDING = frozenset(("(", ">", ">>", "<", "<<", ".", "(2", "(3", "(4", "(5", "(6"))
_LETTERS = frozenset("ABCDEFGabcdefg")
_PITCH_END = frozenset("ABCDEFGabcdefg',")
# Ticks of a pending note, by (text, unit, tuplet): the sampler asks after every character.
_PENDING: dict[tuple[str, int, tuple[int, int] | None], int] = {}
_REST = re.compile(r"[zx](\d*)(/*)(\d*)")
_DECO_ONLY = re.compile(r"[.MLRH~Tuv'OPS]*")
_LENGTH = re.compile(r"(\d*)(/*)(\d*)")
_MICRO_SO_FAR = re.compile(r"\d*/?\d*")  # the start of a number after decorations
_REP_LIST = re.compile(r"\d+(?:[-,]\d+)*")
_TUPLET = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
_INLINE = re.compile(r"\[([A-Za-z]):([^\]]*)(\]?)")


def _open_list(text: str, end: int, final: bool) -> bool:
    """Whether an ending list ending at `end` may still go on (`|1` -> `|1,3`)."""
    if final:
        return False
    return end >= len(text) or (text[end] in ",-" and end + 1 >= len(text))


class BodyReader(BodyEvents):
    """Methods that read the body of a tune into `AbcScanner`'s state (its `__slots__`);
    the scanner supplies `_body_field` for inline fields."""

    __slots__ = ()

    # -- the body, token by token -------------------------------------------------------------

    def _pending_time(self) -> int:
        """Ticks of the note being written in `pending`, if it is a plain note or rest."""
        text = self.pending
        if not text or self._in_grace or self._in_chord:
            return 0
        key = self._pending_key()
        found = _PENDING.get(key)
        if found is not None:
            return found if found >= 0 else 0
        time = self._read_pending_time(text.lstrip())
        if len(_PENDING) > 8192:
            _PENDING.clear()
        _PENDING[key] = time
        return time if time >= 0 else 0

    def _pending_key(self) -> tuple[str, int, tuple[int, int] | None]:
        return (
            self.pending,
            self._unit,
            self._tuplet_factor if self._tuplet_left else None,
        )

    def _read_pending_time(self, text: str) -> int:
        """Ticks of a pending plain note or rest; -1 for one that reading would find fault with
        (A/3, C', c, ...), so that the quick answers leave it to a full reading."""
        match = _NOTE.fullmatch(text)
        if match is not None:
            num, slashes, den, letter, octave = match.group(
                "num", "slashes", "den", "letter", "octave"
            )
            if (
                match.group("micro") is not None
                or (den and (len(slashes) > 1 or length_problem(slashes, den)))
                or ("," in octave if letter.islower() else "'" in octave)
            ):
                return -1
            return self._note_time(_length(num, slashes, den), "H" in match.group("deco"))
        match = _REST.fullmatch(text)
        if match is not None:
            return self._note_time(_length(*match.groups()), False)
        return 0

    def _consume(self, final: bool) -> None:
        """Read every token of `pending` whose meaning is settled (all of it when `final`)."""
        text = self.pending
        size = len(text)
        self._note_open = False
        head = text.lstrip(" \t") if self.line_start and not final else ""
        if head[:1] in FIELD_LETTERS:  # (spaces before a field are skipped, as parseline does)
            rest = head[1:].lstrip(" \t")
            if not rest or (rest[0] == ":" and rest[1:2] not in (":", "|")):
                return  # a field line such as M:3/4 (or maybe one): wait for the line's end
        i = 0
        while i < size:
            end = self._token(text, i, final)
            if end < 0:
                break
            i = end
        self.pending = text[i:]
        if i and (text[0] not in " \t" or not text[:i].isspace()):
            self.line_start = False  # (spaces alone leave a line blank: it ends the tune)

    def _token(self, text: str, i: int, final: bool) -> int:
        """Read the token at `text[i]`; return where it ends, or -1 if more text is needed."""
        char = text[i]
        size = len(text)
        if char == " " or char == "\t":
            return i + 1
        if char == "." and i + 1 < size and text[i + 1] in "(|":
            # A dotted slur .( (the ( is a slur even before a digit) or a dotted bar line .|
            return i + 2 if text[i + 1] == "(" else i + 1
        if char in "ABCDEFGabcdefg^_=" or char in _DECORATION_CHARS:
            if char == "." and i + 1 >= size and not final:
                return -1
            return self._note_token(text, i, final)
        if char == "|":
            if i + 1 >= size and not final:
                return -1
            nxt = text[i + 1 : i + 2]
            if nxt == ":":
                self._bar(pb.BAR_REP, "")
                return i + 2
            if nxt == "|":
                self._bar(pb.DOUBLE, "")
                return i + 2
            if nxt == "]":
                self._bar(pb.DOUBLE, "")
                return i + 2
            match = _REP_LIST.match(text, i + 1)
            if match is not None:
                if _open_list(text, match.end(), final):
                    return -1
                self._bar(pb.SINGLE, match.group())
                return match.end()
            self._bar(pb.SINGLE, "")
            return i + 1
        if char == ":":
            if i + 1 >= size and not final:
                return -1
            nxt = text[i + 1 : i + 2]
            if nxt == ":":
                self._bar(pb.DOUBLE_REP, "")
                return i + 2
            if nxt == "|":
                match = _REP_LIST.match(text, i + 2)
                end = match.end() if match is not None else i + 2
                if _open_list(text, end, final):
                    return -1
                self._bar(pb.REP_BAR, match.group() if match is not None else "")
                return end + 1 if text[end : end + 1] == "]" else end
            self._bar(pb.DOUBLE, "")  # a dotted bar line
            return i + 1
        if char == "[":
            if i + 1 >= size and not final:
                return -1
            nxt = text[i + 1 : i + 2]
            if nxt == "|":
                if i + 2 >= size and not final:
                    return -1  # [| or [|:
                self._bar(pb.DOUBLE, "")
                if text[i + 2 : i + 3] == ":":
                    self._bar(pb.BAR_REP, "")
                    return i + 3
                return i + 2
            if nxt.isdigit():
                match = _REP_LIST.match(text, i + 1)
                assert match is not None
                if _open_list(text, match.end(), final):
                    return -1
                self._play_ending(match.group())
                return match.end()
            if nxt.isalpha() and text[i + 2 : i + 3] == ":":
                match = _INLINE.match(text, i)
                assert match is not None
                if not match.group(3):
                    if not final:
                        return -1
                    self._error("missing closing ]")
                self._body_field(match.group(1), match.group(2), inline=True)
                return match.end()
            if nxt.isalpha() and i + 2 >= size and not final:
                return -1
            self._chord_on()
            return i + 1
        if char == "]":
            if not self._in_chord:
                if i + 1 >= size and not final:
                    return -1
                if text[i + 1 : i + 2] == "|":
                    self._bar(pb.DOUBLE, "")
                    return i + 2
            match = _LENGTH.match(text, i + 1)
            assert match is not None
            if match.end() >= size and not final:
                return -1
            self._chord_off(match)
            return match.end()
        if char == '"':
            close = text.find('"', i + 1)
            if close < 0:
                if not final:
                    return -1
                self._error("Guitar chord name not properly closed")
                self._chord_symbol(text[i + 1 :])
                return size
            self._chord_symbol(text[i + 1 : close])
            return close + 1
        if char in "zx":
            match = _LENGTH.match(text, i + 1)
            assert match is not None
            if match.end() >= size and not final:
                return -1
            self._rest(_length(*match.groups()), "")
            return match.end()
        if char in "ZX":
            match = _LENGTH.match(text, i + 1)
            assert match is not None
            if match.end() >= size and not final:
                return -1
            num, slashes, _ = match.groups()
            if slashes:
                self._error("X or Z must be followed by a whole integer")
            self._multi_rest(int(num) if num else 1)
            return match.end()
        if char == "y":
            match = _LENGTH.match(text, i + 1)
            assert match is not None
            if match.end() >= size and not final:
                return -1
            return match.end()
        if char == "(":
            if i + 1 >= size and not final:
                return -1
            match = _TUPLET.match(text, i)
            if match is None:
                return i + 1  # a slur
            if match.end() >= size and not final:
                return -1
            self._tuplet_start(match)
            return match.end()
        if char == ")":
            return i + 1
        if char == "{":
            if self._in_grace:
                self._error("Nested grace notes not allowed")
            elif self._in_chord:
                self._error("Grace notes not allowed in chord")
            if self._grace_open:
                self._error("Intervening note needed between grace notes")
            self._in_grace = True
            return i + 1
        if char == "}":
            if not self._in_grace:
                self._error("} without matching {")
            self._in_grace = False
            self._grace_open = True
            return i + 1
        if char in "<>":
            end = i
            while end < size and text[end] == char:
                end += 1
            if end >= size and not final:
                return -1
            self._broken_rhythm(char, end - i)
            return end
        if char == "-":
            self._tie_start()
            return i + 1
        if char == "!" or char == "+":
            close = text.find(char, i + 1)
            if close < 0:
                if not final:
                    return -1
                if text[i + 1 :].strip():
                    self._error("'!' or '+' in middle of line ignored")
                return size
            for name in text[i + 1 : close].split(";"):
                # abc2midi passes !fermata!, !breath! and !trill! on to the next note (store.c).
                if name == "fermata":
                    self._passback += "H"
                elif name == "breath":
                    self._passback += "."
                elif name == "trill":  # ... and !trill!, as T
                    self._passback += "T"
            return close + 1
        if char == "\\":
            if not final:
                return -1  # a continuation only if nothing follows on the line: wait for its end
            if text[i + 1 :].strip():
                self._error("'\\' in middle of line ignored")
            return i + 1
        if char == "/":
            if not self._in_grace:
                self._error("stray / not in grace sequence")
            return i + 1
        if char == "*":  # stars end a line (abc2midi: a line break); elsewhere an error
            end = i + 1
            while end < size and text[end] == "*":
                end += 1
            if text[end:].split("%", 1)[0].strip(" \t"):
                self._error("*'s in middle of line ignored")
            elif not final:
                return -1  # nothing follows yet: wait for the line's end
            return end
        if char in "$&s":
            return i + 1
        if char == "%":
            return size if final else -1  # a comment runs to the line's end
        if "A" <= char <= "z":
            return i + 1  # a reserved character: abc2midi only warns
        self._error(f"Unrecognized character: {char}")
        return i + 1

    def _note_token(self, text: str, i: int, final: bool) -> int:
        match = _NOTE.match(text, i)
        if match is not None and match.end() >= len(text) and not final:
            self._note_open = True
            return -1
        if match is None or (match.end() >= len(text) and not final):
            deco = _DECO_ONLY.match(text, i)
            assert deco is not None
            after = deco.end()
            if match is None and after < len(text):
                if text[after] == "[":
                    self._chord_deco = text[i:after]  # decorations on a chord: its notes get them
                    return after
                if text[after] in "zx":  # decorations on a rest: a fermata H doubles it
                    rest = _REST.match(text, after)
                    assert rest is not None
                    if rest.end() >= len(text) and not final:
                        return -1
                    self._rest(_length(*rest.groups()), text[i:after])
                    return rest.end()
                if text[after] in "^_=" and not final:
                    return -1
                if not final and _MICRO_SO_FAR.fullmatch(text, after):
                    return -1  # O2 may become O2G (read as G)
                self._error("Malformed note : expecting a-g or A-G")
                return after if after > i else i + 1
            if match is None and final:
                self._error("Malformed note : expecting a-g or A-G")
                return len(text)
            return -1
        return self._note_match(match)

    def _note_match(self, match: re.Match[str]) -> int:
        """Read the note `match` found; return where it ends."""
        deco, acc, micro, letter, octave = match.group("deco", "acc", "micro", "letter", "octave")
        if deco and self._chord_deco and self._in_chord and not self._chord_notes:
            # `.[.cB]`: abc2midi reads decorations before a chord or on its first note, not both
            self._error("Malformed note : expecting a-g or A-G")
        if micro is not None and (acc == "=" or (acc is None and not deco)):
            # a microtone follows ^ or _ (=3B is malformed); after a decoration abc2midi
            # reads the number and ignores it (O2G, .4G: G)
            self._error("Malformed note : expecting a-g or A-G")
            return match.start("micro")
        num, slashes, den = match.group("num", "slashes", "den")
        end = match.end()
        if den and len(slashes) > 1:  # abc2midi reads no number after // ("A//4": A// then 4)
            den, end = "", match.end("slashes")
        length = _length(num, slashes, den)
        if den:
            self._field_problem(length_problem(slashes, den))
        if letter.islower():
            if "," in octave:
                self._error(f"Bad pitch specifier , after note {letter}")
        elif "'" in octave:
            self._error(f"Bad pitch specifier ' after note {letter}")
        self._note(acc, letter, octave.count("'") - octave.count(","), length, deco)
        return end
