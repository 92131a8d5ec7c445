"""A library of saved tunes in one SQLite file, kept across restarts; one transaction per write."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tunegen.errors import NotFoundError, UsageError
from tunegen.music.abc import tunebook_from_texts

SCHEMA = """
CREATE TABLE IF NOT EXISTS tunes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    abc TEXT NOT NULL,
    starred INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
)
"""
COLUMNS = "id, name, abc, starred, model, created"


@dataclass(frozen=True)
class SavedTune:
    """One tune in the library: its ABC text, the name the user gave it, and a star."""

    id: int
    name: str
    abc: str
    starred: bool
    model: str
    created: str


def default_library_path() -> Path:
    """$XDG_DATA_HOME/tunegen/library.sqlite, or ~/.local/share/tunegen/library.sqlite."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "tunegen" / "library.sqlite"


def _row_to_tune(row: tuple) -> SavedTune:
    id_, name, abc, starred, model, created = row
    return SavedTune(id_, name, abc, bool(starred), model, created)


def _fetch(db: sqlite3.Connection, tune_id: int) -> SavedTune:
    """One tune by id, read in `db`'s transaction; NotFoundError if there is none."""
    row = db.execute(f"SELECT {COLUMNS} FROM tunes WHERE id = ?", (tune_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no saved tune with id {tune_id}")
    return _row_to_tune(row)


def titled(abc: str, name: str) -> str:
    """The tune's ABC with its first T: line set to `name` (or a T: line first if it has none)."""
    lines = abc.rstrip("\n").split("\n")
    title_at = next((i for i, line in enumerate(lines) if line.startswith("T:")), None)
    if title_at is None:
        lines.insert(0, f"T:{name}")  # before X: is fine: tunebook_from_texts renumbers X:
    else:
        lines[title_at] = f"T:{name}"
    return "\n".join(lines) + "\n"


class TuneLibrary:
    """Saved tunes in an SQLite file (WAL journal, full sync): a crash loses no committed tune.

    Each call opens its own connection, so one library can be shared by threads.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._transaction() as db:
                db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise UsageError(f"{path}: cannot open the tune library ({err})") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection whose work is committed at the end, or rolled back on an error."""
        with closing(sqlite3.connect(self.path, timeout=10)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            with db:  # commits, or rolls back on an exception
                yield db

    def add(self, name: str, abc: str, starred: bool = False, model: str = "") -> SavedTune:
        """Save a tune; returns it with its new id."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO tunes (name, abc, starred, model, created) VALUES (?, ?, ?, ?, ?)",
                (name, abc, int(starred), model, created),
            )
            return _fetch(db, cursor.lastrowid)

    def list(self, starred_only: bool = False) -> list[SavedTune]:
        """Every saved tune (or only the starred ones), oldest first."""
        where = "WHERE starred = 1" if starred_only else ""
        with self._transaction() as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM tunes {where} ORDER BY id").fetchall()
        return [_row_to_tune(row) for row in rows]

    def get(self, tune_id: int) -> SavedTune:
        """One saved tune; NotFoundError if there is none with that id."""
        with self._transaction() as db:
            return _fetch(db, tune_id)

    def update(
        self,
        tune_id: int,
        name: str | None = None,
        abc: str | None = None,
        starred: bool | None = None,
    ) -> SavedTune:
        """Change a saved tune's name, ABC or star (None leaves it); returns the new version."""
        flag = None if starred is None else int(starred)
        with self._transaction() as db:
            db.execute(
                "UPDATE tunes SET name = COALESCE(?, name), abc = COALESCE(?, abc),"
                " starred = COALESCE(?, starred) WHERE id = ?",
                (name, abc, flag, tune_id),
            )
            return _fetch(db, tune_id)

    def delete(self, tune_id: int) -> None:
        """Remove a saved tune; NotFoundError if there is none with that id."""
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM tunes WHERE id = ?", (tune_id,)).rowcount
        if not deleted:
            raise NotFoundError(f"no saved tune with id {tune_id}")

    def export(self, starred_only: bool = False) -> str:
        """The saved tunes as one ABC tunebook, titled with their names, X: numbered 1..N."""
        tunes = self.list(starred_only)
        return tunebook_from_texts([titled(tune.abc, tune.name) for tune in tunes])
