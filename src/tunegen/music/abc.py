"""Read, split and normalise ABC tunebooks (ABC standard 2.1) into tunes, with a report of problems.

Nothing here imports an ML library: a `Tune` is plain text split into header fields and body lines.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tunegen.errors import CorpusError
from tunegen.music.abc_syntax import MODE_NAMES
from tunegen.music.files import resolve_paths

# music21's bundled ABC collections, by the name users type.
BUNDLED_CORPORA = ("oneills1850", "ryansMammoth", "airdsAirs", "essenFolksong")

# Information fields (ABC 2.1 section 3) that carry no music: dropped unless metadata is kept.
# Z transcription, N notes, B book, S source, H history, O origin, D discography, F file URL,
# C composer, A area, G group, I instruction, W/w words, r remark.
NON_MUSIC_FIELDS = frozenset("ZNBSHODFCAGIWwr")

MAX_TUNE_CHARS = 100_000
FIELD_LINE = re.compile(r"^([A-Za-z+]):(.*)$")
_NOTE = re.compile(r"[A-Ga-g]")
_SPACES = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Tune:
    """One normalised tune: header fields in canonical order (X, T, M, L, others, K) and body."""

    header: tuple[tuple[str, str], ...]
    body: tuple[str, ...]
    source: str = ""

    def field(self, name: str) -> str | None:
        """The first value of header field `name` (e.g. "M"), or None."""
        return next((value for key, value in self.header if key == name), None)

    @property
    def title(self) -> str:
        return self.field("T") or "Untitled"

    @property
    def text(self) -> str:
        """The tune as ABC text, without its X: line (what the models learn)."""
        lines = [f"{key}:{value}" for key, value in self.header if key != "X"]
        return "\n".join([*lines, *self.body]) + "\n"

    def abc(self, number: int) -> str:
        """The tune as a standalone ABC tune numbered `number`."""
        return f"X:{number}\n{self.text}"


@dataclass
class ReadReport:
    """What reading a corpus found: counts, drop reasons and per-file problems."""

    files: int = 0
    read: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    unit: str = "tunes"  # what a file holds: tunes (ABC) or pieces (MIDI)
    changes: Counter[str] = field(default_factory=Counter)  # what was done to kept tunes

    def merge(self, other: ReadReport) -> None:
        self.files += other.files
        self.read += other.read
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.problems.extend(other.problems)
        self.changes.update(other.changes)

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {why}" for why, n in self.dropped.most_common())
        dropped = sum(self.dropped.values())
        counts = f"{self.read} {self.unit} read, {self.kept} kept, {dropped} dropped"
        text = f"{self.files} files, {counts}"
        text = f"{text} ({reasons})" if reasons else text
        changes = ", ".join(f"{n} {what}" for what, n in sorted(self.changes.items()))
        return f"{text}; {changes}" if changes else text


@dataclass
class Corpus:
    """Tunes read from one or more sources, and a description of where they came from."""

    tunes: list[Tune]
    report: ReadReport
    description: str


def decode_abc_bytes(data: bytes, source: str) -> tuple[str, list[str]]:
    """Decode ABC file bytes: UTF-8, else Latin-1 with a note; binary data is an error."""
    if b"\x00" in data[:8192]:
        raise CorpusError(f"{source}: binary data, not an ABC text file")
    notes: list[str] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        text = data.decode("latin-1")
        notes.append(f"{source}: not UTF-8 (byte {err.start}), read as Latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n"), notes


def _clean_body_line(line: str) -> str:
    """Drop a trailing % comment and collapse runs of blanks (they only mark beam breaks)."""
    if "%" in line:
        line = line.split("%", 1)[0]
    return _SPACES.sub(" ", line).strip()


def _split_raw_tunes(text: str) -> Iterable[tuple[int, list[str]]]:
    """Yield (line number, lines) per tune: an X: line to the next blank line (ABC 2.1 s2.2)."""
    current: list[str] | None = None
    start = 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("X:"):
            if current:
                yield start, current
            current, start = [line], number
        elif current is not None:
            if line.strip():
                current.append(line)
            else:
                yield start, current
                current = None
    if current:
        yield start, current


def normalise_tune(lines: Sequence[str], source: str = "", keep_metadata: bool = False) -> Tune:
    """Build a `Tune` from raw lines; raises ValueError with the drop reason if it has no music.

    The header runs to the first music line, so fields written after K: but before the music
    move into it, and K: moves last (ABC 2.1 section 3.1.1: K: ends the header).
    """
    fields: list[tuple[str, str]] = []
    body: list[str] = []
    continues_comment = False
    for raw in lines:
        line = raw.replace("\t", " ").rstrip()
        if continues_comment or line.lstrip().startswith("%"):
            continues_comment = line.endswith("\\")  # a %% directive continued on the next line
            continue
        match = FIELD_LINE.match(line)
        if match:
            key = match.group(1)
            if keep_metadata or key not in NON_MUSIC_FIELDS:
                value = _SPACES.sub(" ", match.group(2).split("%", 1)[0]).strip()
                if body:
                    body.append(f"{key}:{value}")
                else:
                    fields.append((key, value))
            continue
        cleaned = _clean_body_line(line)
        if cleaned and not any(key == "K" for key, _ in fields):
            raise ValueError("music before the K: field")
        if cleaned:
            body.append(cleaned)
    if not any(key == "K" for key, _ in fields):
        raise ValueError("no K: field")
    if not any(_NOTE.search(line) for line in body if not FIELD_LINE.match(line)):
        raise ValueError("no music")
    return Tune(_canonical_header(fields), tuple(body), source)


def _canonical_header(fields: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Order header fields X, T, M, L, then the others as found, K last (ABC 2.1 section 3.1)."""
    rank = {"X": 0, "T": 1, "M": 2, "L": 3, "K": 5}
    key_field = [kv for kv in fields if kv[0] == "K"][-1:]  # the last K: before the music wins
    rest = [kv for kv in fields if kv[0] != "K"]
    ordered = sorted(rest, key=lambda kv: rank.get(kv[0], 4))  # stable: keeps order within a rank
    return tuple(ordered + key_field)


def parse_tunebook(
    text: str, source: str = "<text>", keep_metadata: bool = False
) -> tuple[list[Tune], ReadReport]:
    """Split a tunebook into normalised tunes; bad tunes are counted and described, never raised."""
    report = ReadReport(files=1)
    tunes: list[Tune] = []
    for line_number, lines in _split_raw_tunes(text):
        report.read += 1
        where = f"{source}:{line_number}"
        if sum(len(line) for line in lines) > MAX_TUNE_CHARS:
            reason = f"longer than {MAX_TUNE_CHARS} characters"
        else:
            try:
                tunes.append(normalise_tune(lines, where, keep_metadata))
                continue
            except ValueError as err:
                reason = str(err)
        report.dropped[reason] += 1
        report.problems.append(f"{where}: dropped tune ({reason})")
    if report.read == 0:
        report.problems.append(f"{source}: no tunes (no X: line)")
    report.kept = len(tunes)
    return tunes, report


def parse_tunebook_leniently(text: str, source: str = "<text>") -> list[tuple[Tune, str | None]]:
    """Every tune of a tunebook with metadata kept, paired with why it could not be normalised.

    A tune that cannot be normalised (no K:, no music, ...) comes back raw, so that renderers can
    keep and list it instead of silently dropping it.
    """
    tunes: list[tuple[Tune, str | None]] = []
    for line_number, lines in _split_raw_tunes(text):
        where = f"{source}:{line_number}"
        try:
            tunes.append((normalise_tune(lines, where, keep_metadata=True), None))
        except ValueError as err:
            titles = [line[2:].strip() for line in lines if line.startswith("T:")]
            body = [line for line in lines if not line.startswith(("X:", "T:"))]
            header = (("T", titles[0]),) if titles else ()
            tunes.append((Tune(header, tuple(body), where), str(err)))
    return tunes


def bundled_corpus_files(name: str) -> list[Path]:
    """The .abc files of one of music21's bundled corpora."""
    import music21  # local import: music21 is slow to import and only needed for its files

    folder = Path(music21.__file__).parent / "corpus" / name
    return sorted(folder.glob("*.abc"))


def resolve_abc_files(spec: str) -> list[Path]:
    """Files named by `spec`: a bundled corpus name, an .abc file, a folder, or a glob pattern."""
    if spec in BUNDLED_CORPORA:
        return bundled_corpus_files(spec)
    return resolve_paths(spec, (".abc",), BUNDLED_CORPORA)


def read_abc_file(path: Path, keep_metadata: bool = False) -> tuple[list[Tune], ReadReport]:
    """Read one ABC file; unreadable or binary files give a report problem, not an exception."""
    try:
        text, notes = decode_abc_bytes(path.read_bytes(), str(path))
    except (OSError, CorpusError) as err:
        message = str(err) if isinstance(err, CorpusError) else f"{path}: {err.strerror}"
        report = ReadReport(files=1, problems=[message])
        report.dropped["unreadable file"] += 1
        return [], report
    tunes, report = parse_tunebook(text, str(path), keep_metadata)
    report.problems[:0] = notes
    return tunes, report


def iter_corpus(
    specs: Sequence[str], report: ReadReport, keep_metadata: bool = False
) -> Iterator[Tune]:
    """Tunes of every spec (names may be joined with '+'), one at a time, exact duplicates dropped.

    Counts and problems go into `report` as the files are read. Only digests of the tunes seen are
    kept, so a corpus of any size streams through. A corpus with no usable tune is a CorpusError.
    """
    names = [part for spec in specs for part in spec.split("+") if part]
    if not names:
        raise CorpusError("no corpus given")
    seen: set[bytes] = set()
    for name in names:
        for path in resolve_abc_files(name):
            file_tunes, file_report = read_abc_file(path, keep_metadata)
            unique = []
            for tune in file_tunes:
                digest = hashlib.blake2b(tune.text.encode("utf-8"), digest_size=16).digest()
                if digest in seen:
                    file_report.kept -= 1
                    file_report.dropped["duplicate"] += 1
                    continue
                seen.add(digest)
                unique.append(tune)
            report.merge(file_report)
            yield from unique
    if not seen:
        detail = "; ".join(report.problems[:3]) or report.summary()
        raise CorpusError(f"{'+'.join(names)}: no usable tunes ({detail})")


def read_corpus(specs: Sequence[str], keep_metadata: bool = False) -> Corpus:
    """Every tune of every spec in memory (see iter_corpus), with the read report."""
    report = ReadReport()
    tunes = list(iter_corpus(specs, report, keep_metadata))
    return Corpus(tunes, report, corpus_description(specs))


def corpus_description(specs: Sequence[str]) -> str:
    return "+".join(part for spec in specs for part in spec.split("+") if part)


def hash_fraction(text: str) -> float:
    """A stable number in [0, 1) from a tune's text, used to place it on one side of a split."""
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_train_val(tunes: Sequence[Tune], val_fraction: float) -> tuple[list[Tune], list[Tune]]:
    """Deterministic tune-level split by hash: the same tune always lands on the same side.

    A tune is held out when its hash fraction is below `val_fraction`; if none is, the tune with
    the smallest fraction is (data.write_splits applies the same rule to a stream of texts).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {val_fraction}")
    if len(tunes) < 2:
        raise CorpusError(f"need at least 2 tunes to hold some out, got {len(tunes)}")
    scored = sorted(((hash_fraction(t.text), i) for i, t in enumerate(tunes)))
    val_ids = {i for score, i in scored if score < val_fraction} or {scored[0][1]}
    train = [t for i, t in enumerate(tunes) if i not in val_ids]
    val = [t for i, t in enumerate(tunes) if i in val_ids]
    return train, val


def tunebook_text(tunes: Iterable[Tune]) -> str:
    """Tunes as one tunebook, X: renumbered 1..N, separated by blank lines."""
    return "\n".join(tune.abc(number) for number, tune in enumerate(tunes, 1))


def tunebook_from_texts(texts: Sequence[str], notes: Sequence[str | None] = ()) -> str:
    """Raw tune texts (e.g. model samples) as a tunebook that always parses as separate tunes.

    X: is renumbered 1..N, blank lines (which would end a tune early) and stray X: lines are
    removed, and an optional note per tune is kept as a % comment line.
    """
    tunes = []
    for number, text in enumerate(texts, 1):
        lines = [line.rstrip() for line in text.split("\n")]
        lines = [line for line in lines if line and not line.startswith("X:")]
        note = notes[number - 1] if number <= len(notes) else None
        comment = [f"% tunegen: {note}"] if note else []
        tunes.append("\n".join([f"X:{number}", *comment, *lines]) + "\n")
    return "\n".join(tunes)


def slugify(title: str, limit: int = 40) -> str:
    """A file-name-safe slug of a title: lowercase ASCII letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:limit].rstrip("-") or "untitled"


# A K: field (ABC 2.1 section 3.1.14): a tonic and mode (only the first three letters of a mode
# count), none or a bagpipe key, or only a clef; then anything (accidentals, clef=, middle=...).
_KEY_FIELD = re.compile(
    rf"(?:[A-G][#b]?\s*(?:(?:{'|'.join(MODE_NAMES)})[a-z]*|m)?|none|HP|Hp"
    r"|(?:clef=)?(?:treble|bass|alto|tenor|perc)\S*)?(?:\s.*)?",
    re.IGNORECASE,
)


def check_key(value: str) -> None:
    """Raise ValueError naming the key if a K: field value is not an ABC key."""
    if not _KEY_FIELD.fullmatch(value.strip()):
        raise ValueError(f"unknown key {value!r} in the K: field")
