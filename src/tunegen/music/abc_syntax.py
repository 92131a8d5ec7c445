"""ABC 2.1's shared tables and token patterns: keys and modes, accidentals, notes, bar lines.

The one copy that the tokenizer (abc_rhythm), the transposer, the cleaner, the K: check and the
sampling controls read; abc2midi's own reading lives in abc_scan/abc_body/abc_rules.
"""

from __future__ import annotations

import re

# ABC 2.1 section 4.1: semitones of the natural notes above C.
SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SHARP_ORDER = "FCGDAEB"  # the order sharps enter a signature; flats enter in reverse
MAJOR_FIFTHS = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}
# ABC 2.1 section 3.1.14: modes by their first three letters ("m" alone is minor), as sharps
# relative to the major key on the same tonic, and their full names.
MODE_FIFTHS = {"maj": 0, "ion": 0, "mix": -1, "dor": -2, "m": -3, "min": -3, "aeo": -3,
               "phr": -4, "loc": -5, "lyd": 1}  # fmt: skip
MODE_NAMES = {"maj": "major", "min": "minor", "ion": "ionian", "aeo": "aeolian",
              "mix": "mixolydian", "dor": "dorian", "phr": "phrygian", "lyd": "lydian",
              "loc": "locrian"}  # fmt: skip
# ABC 2.1 section 4.2: accidentals, as semitones.
ACCIDENTALS = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}

# Token patterns (strings, for building larger patterns; the compiled forms below).
ACCIDENTAL_PATTERN = r"\^\^|\^|__|_|="
NOTE_PATTERN = rf"({ACCIDENTAL_PATTERN})?([A-Ga-g])([',]*)"  # accidental, letter, octave marks
BAR = re.compile(r":*\[?\|+\]?:*|::+")  # ABC 2.1 section 4.8: | || [| |] |: :| :: and kin
QUOTED = re.compile(r'"([^"]*)"')  # scanned left to right, so quotes pair up as ABC reads them
FINGERINGS = tuple("012345")  # a quoted string that starts so is a fingering: "4"
KEY = re.compile(r"^([A-G])([#b]?)\s*([A-Za-z]*)")  # tonic, sharp or flat, mode word
KEY_ACCIDENTAL = re.compile(rf"({ACCIDENTAL_PATTERN})([A-Ga-g])")  # "K:D =c": an explicit one


def key_signature(value: str | None) -> dict[str, int]:
    """Accidentals (letter -> semitones) of a K: value such as "D", "Ador", "Bb mix ^g"."""
    value = (value or "").strip()
    signature: dict[str, int] = {}
    match = KEY.match(value)
    if match and not value.startswith("none"):
        tonic, sign, mode = match.groups()
        fifths = MAJOR_FIFTHS[tonic] + {"#": 7, "b": -7, "": 0}[sign]
        fifths += MODE_FIFTHS.get(mode[:3].lower(), 0)
        letters = SHARP_ORDER[:fifths] if fifths > 0 else SHARP_ORDER[::-1][:-fifths]
        signature = {letter: 1 if fifths > 0 else -1 for letter in letters}
    for sign, letter in KEY_ACCIDENTAL.findall(value):
        signature[letter.upper()] = ACCIDENTALS[sign]
    return signature


def key_name(value: str | None) -> str:
    """A K: value as tonic and mode, e.g. "Ador" -> "A dorian", "Gm" -> "G minor"; the major
    and minor modes by any name are "major" and "minor", an unknown mode is major."""
    match = KEY.match((value or "").strip())
    if not match:
        return "none"
    tonic, sign, mode = match.groups()
    mode = {"": "maj", "m": "min"}.get(mode, mode[:3].lower())
    name = MODE_NAMES.get(mode, "major")
    return f"{tonic}{sign} {dict(ionian='major', aeolian='minor').get(name, name)}"
