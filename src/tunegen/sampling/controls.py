"""What a model can be asked for: the metres, keys, rhythms and forms of its training corpus.

The page offers these as choices and the API accepts nothing else. They are counted once per
model from the corpus its checkpoint names (meta["corpus"]["description"]), then kept in a JSON
file under the cache folder, keyed by the checkpoint's path, size and time: reading a corpus of
4,000 tunes takes seconds, a cached file milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from tunegen.errors import TunegenError
from tunegen.music.abc import Tune, read_corpus
from tunegen.music.abc_syntax import key_name
from tunegen.music.metre import structure
from tunegen.sampling.form import RHYTHMS

CACHE_VERSION = 2
MAX_FORMS = 8
MIN_SHARE = 0.002  # a choice must be in at least 0.2% of the tunes (and in 2): no one-off typos
# key_name()'s mode names -> the shortest K: spelling (ABC 2.1 section 3.1.14)
_MODE_SUFFIX = {"major": "", "minor": "m", "dorian": "dor", "mixolydian": "mix", "lydian": "lyd",
                "phrygian": "phr", "locrian": "loc"}  # fmt: skip
# When a checkpoint's corpus cannot be read any more: the common folk metres, keys and forms.
FALLBACK = {
    "meters": ["6/8", "C|", "2/4", "C", "3/4", "9/8", "4/4"],
    "keys": ["G", "D", "A", "C", "F", "Am", "Em", "Dm", "Ador", "Edor", "Amix", "Dmix"],
    "rhythms": [
        "reel",
        "jig",
        "hornpipe",
        "polka",
        "waltz",
    ],  # all in tunegen.sampling.form.RHYTHMS
    "forms": ["AABB", "AB", "AABBCC", "ABC"],
    "bars_per_part": [8, 16, 4],
}


@dataclass(frozen=True)
class ModelChoices:
    """Each control's values, likeliest first, and where they come from ("corpus" or "fallback")."""

    meters: list[str]
    keys: list[str]
    rhythms: list[str]
    forms: list[str]
    bars_per_part: list[int]
    source: str
    tunes: int = 0

    def check(self, field: str, value: str | int | None) -> None:
        """ValueError naming `field` if `value` is set and is not one of its choices."""
        allowed = getattr(self, field)
        if value is not None and value not in allowed:
            shown = ", ".join(str(choice) for choice in allowed[:12])
            raise ValueError(f"{field}: {value!r} is not one the model knows; choose from {shown}")


def short_key(value: str | None) -> str | None:
    """A K: value in its shortest spelling: "A Dorian" -> "Ador", "E Minor" -> "Em"; None for
    no key or an unreadable one."""
    name = key_name(value)
    if name == "none":
        return None
    tonic, mode = name.split(" ")
    return tonic + _MODE_SUFFIX[mode]


def tune_form(tune: Tune) -> tuple[str, int]:
    """A tune's form as part letters ("AABB": two parts, each repeated) and its bars per part,
    rounded to whole 4-bar phrases (pickups and second endings add a bar here and there).
    Repeats are given to the first parts, as most tunes with fewer repeats than parts have."""
    shape = structure(tune)
    parts = max(1, min(shape.parts, 6))
    letters = "".join(chr(ord("A") + i) * (2 if i < shape.repeats else 1) for i in range(parts))
    return letters, max(1, round(shape.bars / parts / 4)) * 4


def _common(counter: Counter, total: int) -> list:
    least = max(2, int(total * MIN_SHARE))
    return [value for value, count in counter.most_common() if value is not None and count >= least]


def count_choices(tunes: list[Tune]) -> ModelChoices:
    """The metres, keys, rhythms (R:), forms and part lengths common in `tunes`."""
    meters, keys, rhythms, forms, lengths = Counter(), Counter(), Counter(), Counter(), Counter()
    for tune in tunes:
        meters[(tune.field("M") or "").strip() or None] += 1
        keys[short_key(tune.field("K"))] += 1
        rhythm = " ".join((tune.field("R") or "").lower().split()).replace("slipjig", "slip jig")
        rhythms[rhythm if rhythm in RHYTHMS else None] += 1  # only those the sampler can follow
        form, per_part = tune_form(tune)
        forms[form] += 1
        lengths[per_part if per_part in range(1, 65) else None] += 1
    total = len(tunes)
    return ModelChoices(
        _common(meters, total),
        _common(keys, total),
        _common(rhythms, total),
        _common(forms, total)[:MAX_FORMS],
        _common(lengths, total),
        "corpus",
        total,
    )


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/tunegen/choices, or ~/.cache/tunegen/choices."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tunegen" / "choices"


def model_choices(checkpoint_path: Path, meta: dict, cache: Path | None = None) -> ModelChoices:
    """The choices for the model in `checkpoint_path` (whose meta names its corpus), from the
    cache when it has them, else counted from the corpus and cached; the fallback lists when the
    corpus cannot be read (moved, or a MIDI corpus)."""
    cache = cache or cache_dir()
    stat = checkpoint_path.stat()
    stamp = f"{CACHE_VERSION}:{checkpoint_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    cached = cache / f"{hashlib.sha256(stamp.encode()).hexdigest()[:24]}.json"
    try:
        return ModelChoices(**json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        pass  # not counted yet, or an older or broken cache file: count again
    description = str(meta.get("corpus", {}).get("description", ""))
    try:
        if meta.get("training", {}).get("tokenizer") == "words" or not description:
            raise TunegenError("not an ABC corpus")
        tunes = read_corpus(description.split("+"), keep_metadata=True).tunes
        if not tunes:
            raise TunegenError("empty corpus")
        choices = count_choices(tunes)
    except (TunegenError, OSError):
        return ModelChoices(**FALLBACK, source="fallback")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(choices)), encoding="utf-8")
        temporary.replace(cached)  # atomic: a reader never sees half a file
    except OSError:
        pass  # a read-only cache only costs counting again next time
    return choices
