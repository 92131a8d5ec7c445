"""Shared fixtures: small real corpora cut from music21's bundled collections."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegen.music.abc import bundled_corpus_files, read_corpus, tunebook_text


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
