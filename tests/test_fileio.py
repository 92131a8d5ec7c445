"""The one atomic write and the one rule for overwriting (runtime/fileio.py)."""

from __future__ import annotations

import os
import stat

import pytest

from tunegen.errors import UsageError
from tunegen.runtime.fileio import refuse_overwrite, write_atomically, write_new_file


def test_atomic_write_leaves_the_file_with_the_modes_open_would_give(tmp_path):
    before = os.umask(0o022)
    try:
        path = write_atomically(tmp_path / "a.txt", "text")
    finally:
        os.umask(before)
    assert path.read_text() == "text"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temporary file behind


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    path = tmp_path / "b.bin"
    path.write_bytes(b"old")

    def broken(partial):
        partial.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(UsageError, match=r"b\.bin: cannot write it"):
        write_atomically(path, broken)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.bin"]


def test_an_existing_file_is_only_replaced_with_force(tmp_path):
    path = tmp_path / "c.abc"
    write_new_file(path, "one", force=False)
    with pytest.raises(UsageError, match=r"c\.abc: already exists; use force") as refused:
        write_new_file(path, "two", force=False)
    # the library names its settings; the CLI spells them as flags
    assert refused.value.settings == ("force", "out")
    spelled = refused.value.spelled(lambda name: "--" + name)
    assert spelled.endswith("c.abc: already exists; use --force to overwrite it or --out elsewhere")
    write_new_file(path, "two", force=True)
    assert path.read_text() == "two"
    refuse_overwrite([tmp_path / "new.abc"], force=False)  # nothing there: no error
