"""Shared fixtures: real tunes from music21's corpora, and small inline ABC with known notes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tunegen.cli import main
from tunegen.data.midi_corpus import CACHE_ENV, bach_chorale_files
from tunegen.data.vocab import Vocabulary
from tunegen.models.checkpoint import write_checkpoint
from tunegen.music.abc import (
    Tune,
    bundled_corpus_files,
    parse_tunebook,
    read_abc_file,
    read_corpus,
    tunebook_text,
)

# A repeat with first and second endings, a tie into the first ending and three chord symbols.
GOLDEN_ABC = """X:1
T:Golden Repeat
M:4/4
L:1/8
Q:1/4=120
K:G
|:"G"GABc d2 e2-|1 "D7"e2f2 "D/F#"d4:|2 "G"g4 G4||
"""

# (MIDI pitch, start, duration in quarter notes) of the melody above, repeats written out.
GOLDEN_MELODY = [
    (67, 0.0, 0.5), (69, 0.5, 0.5), (71, 1.0, 0.5), (72, 1.5, 0.5), (74, 2.0, 1.0),
    (76, 3.0, 2.0), (78, 5.0, 1.0), (74, 6.0, 2.0),  # first time: e2- ties into e2 of ending 1
    (67, 8.0, 0.5), (69, 8.5, 0.5), (71, 9.0, 0.5), (72, 9.5, 0.5), (74, 10.0, 1.0),
    (76, 11.0, 1.0), (79, 12.0, 2.0), (67, 14.0, 2.0),  # second time: ending 2
]  # fmt: skip

BROKEN_ABC = {
    "unclosed chord": "X:1\nT:Unclosed\nM:4/4\nL:1/8\nK:C\n[CEG cdef|g4 a4|\n",
    "unknown key": "X:1\nT:Unknown Key\nM:4/4\nL:1/8\nK:Xyz\nCDEF GABc|\n",
    "garbage": "X:1\nT:Garbage\nK:C\n}}}{{{ ]]][[[ abc @@@ ###\n",
}


def one_tune(text: str) -> Tune:
    tunes, _ = parse_tunebook(text, keep_metadata=True)
    assert len(tunes) == 1
    return tunes[0]


@pytest.fixture(scope="session")
def cuckoos_nest() -> Tune:
    """A real reel from music21's Nottingham corpus: chord symbols, a pickup, two repeats."""
    path = bundled_corpus_files("nottingham-dataset")[0]
    tunes, _ = read_abc_file(path, keep_metadata=True)
    return next(tune for tune in tunes if tune.title == "Cuckoo's Nest")


@pytest.fixture(scope="session")
def ryans_tunes() -> list[Tune]:
    """The first three tunes of music21's Ryan's Mammoth Collection (a file per tune)."""
    files = bundled_corpus_files("ryansMammoth")[:3]
    return [read_abc_file(path, keep_metadata=True)[0][0] for path in files]


@pytest.fixture(scope="session")
def oneills():
    return read_corpus(["oneills1850"])


@pytest.fixture(scope="session")
def small_abc_dir(tmp_path_factory, oneills) -> Path:
    """A folder with 60 real O'Neill tunes in two files (about 16,000 characters)."""
    folder = tmp_path_factory.mktemp("abc")
    (folder / "a.abc").write_text(tunebook_text(oneills.tunes[:30]), encoding="utf-8")
    (folder / "b.abc").write_text(tunebook_text(oneills.tunes[30:60]), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def first_oneills_file() -> Path:
    return bundled_corpus_files("oneills1850")[0]


TINY = ["--embedding-size", "16", "--hidden-size", "48", "--layers", "2", "--dropout", "0.1"]
FAST = ["--batch-size", "8", "--seq-len", "32", "--lr", "0.01", "--checkpoint-every", "2"]


def train_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--abc", str(corpus), "--out", str(out), *TINY, *FAST, *extra]


@pytest.fixture(scope="session")
def trained(small_abc_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "tiny"
    # the 60 tunes as they are (cleaning would keep 34): the composing tests were written for it
    args = train_args(small_abc_dir, run, "--epochs", "4", "--seed", "1", "--keep-unclean")
    assert main(args) == 0
    return run


@pytest.fixture(scope="session", autouse=True)
def midi_cache(tmp_path_factory) -> Iterator[Path]:
    """Every test's MIDI cache lives in a temporary folder, never in ~/.cache."""
    folder = tmp_path_factory.mktemp("midi-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))
        yield folder


@pytest.fixture(scope="session")
def chorale_sources() -> list[Path]:
    """The first three of music21's bundled Bach chorales (MusicXML)."""
    return bach_chorale_files()[:3]


@pytest.fixture(scope="session")
def chorale_midi(chorale_sources, tmp_path_factory) -> Path:
    """A folder of real chorales written to MIDI by music21's own MIDI writer."""
    from music21 import converter

    folder = tmp_path_factory.mktemp("chorales")
    for source in chorale_sources:
        converter.parse(source).write("midi", fp=folder / f"{source.stem}.mid")
    return folder


def midi_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mid"))


# A tune that renders to every format: the web tests' primer for the echo model below.
ECHO_TUNE = "T:Echo Reel\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|dedB A2G2:|\n"


@pytest.fixture(scope="session")
def models_dir(trained, tmp_path_factory) -> Path:
    """A models folder: the tiny run as tiny/ and echo.ckpt, the tiny model with its output bias
    set so that it ends every tune at once: a tune composed with a primer is the primer itself."""
    folder = tmp_path_factory.mktemp("models")
    (folder / "tiny").mkdir()
    for name in ("best.ckpt", "last.ckpt"):
        shutil.copy(trained / name, folder / "tiny" / name)
    raw = torch.load(trained / "best.ckpt", map_location="cpu", weights_only=True)
    end_id = Vocabulary.from_dict(raw["tunegen"]["vocab"]).end_id
    bias = raw["state_dict"]["model.head.bias"]
    bias.fill_(-1e4)
    bias[end_id] = 1e4
    write_checkpoint(raw, folder / "echo.ckpt")  # stores the edited weights' checksum
    return folder
