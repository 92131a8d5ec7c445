"""What abc2midi accepts in header values and body symbols: keys, metres, R:, chords, decorations.

Each rule is a small function the bar check and the sampler share. They follow abcmidi 2023-02-08
(parseabc.c, store.c) and the ABC standard 2.1 (section numbers in the comments).
"""

from __future__ import annotations

import re
from fractions import Fraction

from tunegen.music.abc_syntax import FINGERINGS

# abc2midi's mode table (music_utils.c): a mode word is known when its first three letters,
# lower-cased, are one of these ("m" alone is minor too).
MODES = ("maj", "min", "aeo", "loc", "ion", "dor", "phr", "lyd", "mix", "exp")
# abc2midi's known chord names (store.c setup_chordnames) for guitar chords "Am7", "D/F#".
CHORD_NAMES = frozenset(
    ("", "m", "7", "m7", "m7b5", "maj7", "M7", "6", "m6", "aug", "+", "aug7", "dim", "dim7",
     "9", "m9", "maj9", "M9", "11", "dim9", "sus", "sus4", "sus9", "sus2", "7sus2", "7sus4",
     "7sus9", "5")
)  # fmt: skip
# ABC 2.1 section 4.14: the decorations !name! a tune may use.
DECORATIONS = frozenset(
    ("trill", "trill(", "trill)", "lowermordent", "uppermordent", "mordent", "pralltriller",
     "roll", "turn", "turnx", "invertedturn", "invertedturnx", "arpeggio", ">", "accent",
     "emphasis", "fermata", "invertedfermata", "tenuto", "0", "1", "2", "3", "4", "5", "+",
     "plus", "snap", "slide", "wedge", "upbow", "downbow", "open", "thumb", "breath", "pppp",
     "ppp", "pp", "p", "mp", "mf", "f", "ff", "fff", "ffff", "sfz", "crescendo(", "<(",
     "crescendo)", "<)", "diminuendo(", ">(", "diminuendo)", ">)", "segno", "coda", "D.S.",
     "D.C.", "dacoda", "dacapo", "fine", "shortphrase", "mediumphrase", "longphrase")
)  # fmt: skip
_METER = re.compile(r"^\s*\(?\s*(\d+(?:\s*\+\s*\d+)*)\s*\)?\s*(?:/\s*(\d+))?")


def key_problem(value: str) -> str | None:
    """What abc2midi's parsekey would report as an error for this K: value, or None.

    `K:A Minor`, `K:Ador`, `K:Bb mix`, `K:none` pass; `K:Cced` is "Unknown mode 'ced'"; a K:
    with no key at all (e.g. only `clef=treble`) is "First K: field must specify key signature".
    """
    words = value.split()
    got_key = False
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.lower() in ("none", "hp"):
            got_key = True
        elif word[0] in "ABCDEFG" and "=" not in word:
            got_key = True
            rest = word[2:] if word[1:2] in ("#", "b") else word[1:]
            if not rest:  # "A Minor": the mode may be the next word
                if index < len(words) and _is_mode(words[index]):
                    index += 1
            elif not _is_mode(rest):
                return f"Unknown mode '{rest}'"
        # Other words (^f, clef=..., exp) abc2midi takes or ignores with a warning.
    return None if got_key else "First K: field must specify key signature"


def _is_mode(word: str) -> bool:
    low = word.lower()
    return low == "m" or (low[:3] in MODES and len(low) >= 3)


def parse_meter(value: str) -> tuple[Fraction | None, str | None]:
    """(bar length in whole notes, error) of an M: value as abc2midi reads it.

    `C` is 4/4, `C|` 2/2, `none` free metre (None: bars are not checked), `3+2/8` sums its
    numerator. A numerator or denominator of 0 is "Expecting fraction in form A/B" (the metre
    is then ignored); a denominator that is not a power of two is an error too.
    """
    text = value.strip()
    if text[:4] in ("none", "None"):
        return None, None
    if text[:1] in ("C", "c"):
        return (Fraction(2, 2) if text[1:2] == "|" else Fraction(1)), None
    match = _METER.match(text)
    if match is None:
        return None, "Expecting fraction in form A/B"
    numerator = sum(int(n) for n in re.findall(r"\d+", match.group(1)))
    denominator = int(match.group(2)) if match.group(2) is not None else 1
    if numerator == 0 or denominator == 0:
        return None, "Expecting fraction in form A/B"
    if denominator & (denominator - 1):
        return None, f"{denominator} b is not a power of 2"
    return Fraction(numerator, denominator), None


def meter_counts(value: str) -> tuple[int, int] | None:
    """(numerator, denominator) of an M: value as abc2midi keeps it (C = 4/4, C| = 2/2)."""
    text = value.strip()
    if text[:4] in ("none", "None"):
        return None
    if text[:1] in ("C", "c"):
        return (2, 2) if text[1:2] == "|" else (4, 4)
    match = _METER.match(text)
    if match is None:
        return None
    numerator = sum(int(n) for n in re.findall(r"\d+", match.group(1)))
    return numerator, int(match.group(2)) if match.group(2) is not None else 1


def rhythm_problem(rhythm: str, meter: str | None) -> str | None:
    """abc2midi refuses `R:hornpipe` (or `Hornpipe...`) unless the metre is 2/4 or 4/4 (M:C)."""
    if not rhythm.lstrip().startswith(("hornpipe", "Hornpipe")):
        return None
    counts = meter_counts(meter) if meter is not None else (4, 4)
    if counts is None or counts[1] != 4 or counts[0] not in (2, 4):
        return "Hornpipe must be in 2/4 or 4/4 time"
    return None


def chord_symbol_problem(text: str) -> str | None:
    """What abc2midi says of a quoted string "..." that is not an annotation (^_<>@ first).

    A guitar chord starts with A-G (a-g for a bass note) and names a known chord: "Am7",
    "D/F#", "G7sus4". A number 0-5 first is a fingering; "(Am)" is read as "Am".
    """
    for part in text.split(";"):
        problem = _one_chord_problem(part)
        if problem is not None:
            return problem
    return None


def _one_chord_problem(text: str) -> str | None:
    if text[:1] in FINGERINGS:
        return None
    p = text[1:] if text[:1] == "(" else text
    if not p:
        return None
    if p[0] not in "ABCDEFGabcdefg":
        return None if p[:1] in tuple("_^<>@") else "Guitar chord does not start with A-G or a-g"
    p = p[1:]
    for _ in range(2):
        if p[:1] in ("#", "b", "="):
            p = p[1:]
    name = ""
    while len(name) < 9 and p and p[0] not in " (/)":
        name, p = name + p[0], p[1:]
    if p[:1] == "/" and p[1:2] not in tuple("ABCDEFGabcdefg"):
        return " / must be followed by A-G or a-g in gchord"
    if name not in CHORD_NAMES:
        return f'Unrecognized chord name "{name}"'
    return None


def decoration_known(name: str) -> bool:
    """Whether !name! is one of ABC 2.1's decorations (section 4.14)."""
    return name in DECORATIONS


# abc2midi's tempo names (store.c), for Q:"Allegro".
TEMPO_NAMES = frozenset(
    ("larghissimo", "adagissimo", "lentissimo", "largo", "adagio", "lento", "larghetto",
     "adagietto", "andante", "andantino", "moderato", "allegretto", "allegro", "vivace", "vivo",
     "presto", "allegrissimo", "vivacissimo", "prestissimo")
)  # fmt: skip


def tempo_problem(value: str) -> str | None:
    """What abc2midi reports as an error for a Q: value: `Q:1/4=120`, `Q:120`, `Q:"Allegro"`,
    `Q:1/4=96 "Slow"` pass; `Q:Do6` is "malformed Q: field ignored" (ABC 2.1 section 3.1.8),
    `Q:1/4=96 "Slow` a string left open."""
    text = value.strip()
    name = None
    if text.startswith('"'):
        close = text.find('"', 1)
        if close < 0:
            return "Missing closing double quote"
        name, text = text[1:close], text[close + 1 :]
    if "=" in text:
        text = text.lstrip()
        if text[:1] and text[0] in "ABCDEFGabcdefg":
            text = text[1:]
        match = re.match(r"(\d*)(/*)(\d*)", text)
        assert match is not None
        denominator = _denominator(*match.groups())
        if denominator & (denominator - 1):
            return f"{denominator} b is not a power of 2"
        text = text[match.end() :].lstrip()
        if not text.startswith("="):
            return "Expecting = in tempo"
        text = text[1:]
    digits = re.match(r"\s*(\d*)", text)
    assert digits is not None
    if not int(digits.group(1) or 0) and (name is None or name.lower() not in TEMPO_NAMES):
        return "malformed Q: field ignored"
    after = text[digits.end() :].lstrip()  # a string may follow the tempo: Q:1/4=96 "Slow"
    if after[:1] == '"' and '"' not in after[1:]:
        return "Missing closing double quote"
    return None


INFO_KEYS = frozenset(("MIDI", "MIDIx", "vol", "volinc"))  # the I: keys abc2midi knows


def info_problem(value: str) -> str | None:
    """What abc2midi reports as an error for an I: value (store.c info_key): its first word
    (up to a space or "=") must be MIDI, MIDIx, vol or volinc (`I:MIDI program 1`); `I:Reel`
    is "I: key ' Reel' not recognized". The MIDI commands themselves are not checked."""
    text = value.strip()
    if not text:
        return None
    key = re.match(r"[^\s=]*", text).group()  # type: ignore[union-attr]
    if key not in INFO_KEYS:
        return f"I: key ' {key}' not recognized"
    if key == "MIDI" and not text[len(key) :].strip(" =\t"):
        return '%%MIDI command "" not recognized'
    return None


def abbreviation_problem(value: str) -> str | None:
    """What abc2midi reports as an error for a U: value (parseabc.c): `U:T=!trill!` and
    `U:W=roll` pass; `U:Garun` is "Missing '=' U: field ignored", `U:T=` and `U:T=!!` miss
    their term, `U:T=!trill` its closing "!". A value that does not open with a letter (`U:~=...`,
    an empty one) only draws a warning: abc2midi ignores the line."""
    text = value.strip()
    if not text or not "A" <= text[0] <= "z":
        return None
    text = text[1:].lstrip(" \t")
    if not text.startswith("="):
        return "Missing '=' U: field ignored"
    text = text[1:].lstrip(" \t")
    if text.startswith("!"):
        close = text.find("!", 1)
        if close < 0:
            return "No closing ! in U: field"
        term = text[1:close]
    else:
        term = re.match(r"[A-Za-z0-9]*", text).group()  # type: ignore[union-attr]
    return None if term else "Missing term in U: field"


def _denominator(num: str, slashes: str, den: str) -> int:
    """The denominator abc2midi's readlen gives a length such as "/", "//", "3/8"."""
    if not slashes:
        return 1
    if den:
        return int(den) or 2
    return 2 ** len(slashes)


def length_problem(slashes: str, den: str) -> str | None:
    """A note length whose denominator is not a power of two ("A/3") is an error in abc2midi."""
    if den and slashes:
        denominator = int(den)
        if denominator and denominator & (denominator - 1):
            return f"{denominator} b is not a power of 2"
    return None


# The letters that open a field line in a tune body (parseabc.c); "X:|" and "X::" are music.
FIELD_LETTERS = frozenset("ABCDEFGHIKLMNOPQRSTUVdwsWXZ+")


def field_line(line: str) -> tuple[str, str] | None:
    """(letter, value) if abc2midi reads this body line as a field line such as `M:3/4` (after
    any spaces: parseline skips them, and warns of " M:3/4")."""
    line = line.lstrip(" \t")
    if not line or line[0] not in FIELD_LETTERS:
        return None
    rest = line[1:].lstrip(" \t")
    if not rest.startswith(":") or rest[1:2] in (":", "|"):
        return None
    return line[0], rest[1:]
