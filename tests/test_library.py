"""The SQLite tune library: saving, changing, exporting, and losing nothing on a crash."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from tunegen.errors import NotFoundError, UsageError
from tunegen.music.abc import parse_tunebook
from tunegen.web.library import SCHEMA_VERSION, TuneLibrary, default_library_path, titled

REEL = "X:1\nT:Old Title\nM:4/4\nL:1/8\nK:G\nGABc dedB|\n"


@pytest.fixture
def library(tmp_path) -> TuneLibrary:
    return TuneLibrary(tmp_path / "data" / "library.sqlite")


def test_a_saved_tune_comes_back_as_saved(library):
    saved = library.add("Morning Reel", REEL, starred=True, model="tiny/best")
    assert saved.id == 1 and saved.name == "Morning Reel" and saved.abc == REEL
    assert saved.starred and saved.model == "tiny/best" and saved.created
    assert library.get(saved.id) == saved
    assert library.list() == [saved]


def test_changes_touch_only_what_is_given(library):
    saved = library.add("Reel", REEL)
    renamed = library.update(saved.id, name="Evening Reel")
    assert (renamed.name, renamed.abc, renamed.starred) == ("Evening Reel", REEL, False)
    starred = library.update(saved.id, starred=True)
    assert (starred.name, starred.starred) == ("Evening Reel", True)
    assert library.update(saved.id, abc="X:1\nK:D\nd4|\n").abc == "X:1\nK:D\nd4|\n"
    assert library.update(saved.id, starred=False).starred is False


def test_starred_filter_and_deleting(library):
    first = library.add("One", REEL)
    second = library.add("Two", REEL, starred=True)
    assert library.list(starred_only=True) == [second]
    library.delete(first.id)
    assert library.list() == [second]


@pytest.mark.parametrize("action", ["get", "update", "delete"])
def test_an_unknown_id_is_not_found(library, action):
    with pytest.raises(NotFoundError, match="no saved tune with id 7"):
        getattr(library, action)(7)


def test_export_is_a_tunebook_titled_with_the_names(library):
    library.add("First Name", REEL)
    library.add("Second Name", "X:9\nK:C\nCDEF|\n", starred=True)
    tunes, report = parse_tunebook(library.export())
    assert [tune.title for tune in tunes] == ["First Name", "Second Name"]
    assert library.export().startswith("X:1\nT:First Name\n")
    assert "X:2\nT:Second Name\n" in library.export()
    assert library.export(starred_only=True).startswith("X:1\nT:Second Name\n")
    assert report.kept == 2


def test_titled_replaces_the_title_or_adds_one():
    assert titled(REEL, "New") == REEL.replace("Old Title", "New")
    assert titled("X:1\nK:C\nCDEF|", "New") == "T:New\nX:1\nK:C\nCDEF|\n"


def test_saved_tunes_survive_reopening(tmp_path):
    path = tmp_path / "library.sqlite"
    TuneLibrary(path).add("Kept", REEL)
    assert [tune.name for tune in TuneLibrary(path).list()] == ["Kept"]


def test_the_journal_is_write_ahead(library):
    with sqlite3.connect(library.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_crash_in_the_middle_of_a_write_loses_nothing_saved(tmp_path):
    """A process that dies inside a transaction leaves every committed tune, and no half tune."""
    path = tmp_path / "library.sqlite"
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from tunegen.web.library import TuneLibrary

        library = TuneLibrary(Path({str(path)!r}))
        library.add("Saved before", {REEL!r})
        with library._transaction() as db:
            db.execute("INSERT INTO tunes (name, abc, created) VALUES ('Half', '', 'now')")
            os._exit(1)  # dies before the commit
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == 1
    assert [tune.name for tune in TuneLibrary(path).list()] == ["Saved before"]


def test_a_failed_write_is_rolled_back(library):
    library.add("Before", REEL)
    with pytest.raises(sqlite3.IntegrityError), library._transaction() as db:
        db.execute("INSERT INTO tunes (name, abc, created) VALUES ('Half', '', 'now')")
        db.execute("INSERT INTO tunes (name, abc, created) VALUES (NULL, '', 'now')")
    assert [tune.name for tune in library.list()] == ["Before"]


def test_an_unusable_path_is_a_usage_error(tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="cannot open the tune library"):
        TuneLibrary(tmp_path / "file" / "library.sqlite")
    (tmp_path / "folder.sqlite").mkdir()
    with pytest.raises(UsageError, match="cannot open the tune library"):
        TuneLibrary(tmp_path / "folder.sqlite")


def test_the_default_path_is_in_the_users_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_library_path() == tmp_path / "data" / "tunegen" / "library.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_library_path() == tmp_path / ".local" / "share" / "tunegen" / "library.sqlite"


OLD_SCHEMA = """CREATE TABLE tunes (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
abc TEXT NOT NULL, starred INTEGER NOT NULL DEFAULT 0, model TEXT NOT NULL DEFAULT '',
created TEXT NOT NULL)"""


def test_an_old_library_file_is_migrated_keeping_its_tunes(tmp_path):
    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as db, db:  # as tunegen wrote it before schema 2
        db.execute(OLD_SCHEMA)
        db.execute(
            "INSERT INTO tunes (name, abc, starred, model, created) VALUES (?, ?, 1, 'm', ?)",
            ("Old Reel", REEL, "2026-01-02T03:04:05+00:00"),
        )
    library = TuneLibrary(path)
    (old,) = library.list()
    assert (old.name, old.abc, old.starred, old.model) == ("Old Reel", REEL, True, "m")
    assert old.updated == old.created == "2026-01-02T03:04:05+00:00" and old.settings == {}
    assert (old.key, old.meter) == ("G", "4/4")
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    added = library.add("New", REEL, settings={"seed": 7})
    assert TuneLibrary(path).get(added.id).settings == {"seed": 7}  # reopening changes nothing


def test_a_library_from_a_newer_tunegen_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UsageError, match="newer than this tunegen"):
        TuneLibrary(path)


def test_search_update_in_place_and_undo_delete(library, monkeypatch):
    first = library.add("Morning Reel", REEL)
    library.add("Jig", REEL.replace("K:G", "K:Ador"))
    assert [t.name for t in library.list(query="morning")] == ["Morning Reel"]
    assert [t.name for t in library.list(query="K:Ador")] == ["Jig"]
    assert library.list(query="_") == []  # LIKE wildcards are plain characters
    changed = library.update(first.id, abc=REEL + "dedB|\n")
    assert changed.id == first.id and len(library.list()) == 2 and changed.updated
    library.delete(first.id)
    assert [t.name for t in library.list()] == ["Jig"]
    assert library.restore(first.id) == changed
    library.delete(first.id)
    monkeypatch.setattr("tunegen.web.library.UNDO_SECONDS", -1)  # the undo time is over
    with pytest.raises(NotFoundError):
        library.restore(first.id)
