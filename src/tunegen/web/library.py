"""A library of saved tunes in one SQLite file, kept across restarts; one transaction per write.

Schema versions (SQLite's user_version): 0/1 (tunegen 0.x: id, name, abc, starred, model,
created); 2 adds `updated`, `settings` (how the tune was composed, as JSON) and `deleted` (a
deleted tune can be restored for UNDO_SECONDS). An older file is migrated when it is opened.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tunegen.errors import NotFoundError, UsageError
from tunegen.music.abc import FIELD_LINE, tunebook_from_texts

SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS tunes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    abc TEXT NOT NULL,
    starred INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL DEFAULT '',
    settings TEXT NOT NULL DEFAULT '{}',
    deleted TEXT
)
"""
# Version 1 -> 2: the columns version 2 added, with what an old tune gets.
MIGRATE_1_TO_2 = (
    "ALTER TABLE tunes ADD COLUMN updated TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE tunes ADD COLUMN settings TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE tunes ADD COLUMN deleted TEXT",
    "UPDATE tunes SET updated = created",
)
COLUMNS = "id, name, abc, starred, model, created, updated, settings"
UNDO_SECONDS = 30  # a deleted tune can be restored this long; then it is removed for good


@dataclass(frozen=True)
class SavedTune:
    """One tune in the library: its ABC text, the name the user gave it, a star, how it was
    composed (`settings`: model, seed, temperature... as the compose API returned them), and the
    key and metre read from its ABC."""

    id: int
    name: str
    abc: str
    starred: bool
    model: str
    created: str
    updated: str = ""
    settings: dict = field(default_factory=dict)
    key: str = ""
    meter: str = ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def header_value(abc: str, name: str) -> str:
    """The first `name:` header field of a tune's ABC (e.g. "K"), or ""."""
    for line in abc.split("\n"):
        match = FIELD_LINE.match(line)
        if match and match.group(1) == name:
            return match.group(2).strip()
    return ""


def default_library_path() -> Path:
    """$XDG_DATA_HOME/tunegen/library.sqlite, or ~/.local/share/tunegen/library.sqlite."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "tunegen" / "library.sqlite"


def _row_to_tune(row: tuple) -> SavedTune:
    id_, name, abc, starred, model, created, updated, settings = row
    try:
        composed = json.loads(settings)
    except ValueError:
        composed = {}  # a hand-edited file: the tune itself still comes back
    return SavedTune(
        id_, name, abc, bool(starred), model, created, updated or created,
        composed if isinstance(composed, dict) else {},
        header_value(abc, "K"), header_value(abc, "M"),
    )  # fmt: skip


def _fetch(db: sqlite3.Connection, tune_id: int) -> SavedTune:
    """One tune by id, read in `db`'s transaction; NotFoundError if there is none (or it is
    deleted)."""
    row = db.execute(
        f"SELECT {COLUMNS} FROM tunes WHERE id = ? AND deleted IS NULL", (tune_id,)
    ).fetchone()
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
                self._migrate(db)
        except (OSError, sqlite3.Error) as err:
            raise UsageError(f"{path}: cannot open the tune library ({err})") from None

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Create the table, or bring an older file up to SCHEMA_VERSION in one transaction."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path}: library schema {version} is newer than this tunegen's "
                f"({SCHEMA_VERSION}); upgrade tunegen"
            )
        exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'tunes'").fetchone()
        if not exists:
            db.execute(SCHEMA)
        elif version < 2:
            for statement in MIGRATE_1_TO_2:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection whose work is committed at the end, or rolled back on an error."""
        with closing(sqlite3.connect(self.path, timeout=10)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            with db:  # commits, or rolls back on an exception
                yield db

    def add(
        self,
        name: str,
        abc: str,
        starred: bool = False,
        model: str = "",
        settings: dict | None = None,
    ) -> SavedTune:
        """Save a tune; returns it with its new id."""
        created = _now()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO tunes (name, abc, starred, model, created, updated, settings)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, abc, int(starred), model, created, created, json.dumps(settings or {})),
            )
            return _fetch(db, cursor.lastrowid)

    def list(self, starred_only: bool = False, query: str = "") -> list[SavedTune]:
        """Every saved tune (or only the starred ones), oldest first; with `query`, only those
        whose name, ABC (title, key, notes...) or model contain it, ignoring case."""
        where, params = ["deleted IS NULL"], []
        if starred_only:
            where.append("starred = 1")
        if query:
            like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(name LIKE ? ESCAPE '\\' OR abc LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\')"
            )
            params += [like] * 3
        sql = f"SELECT {COLUMNS} FROM tunes WHERE {' AND '.join(where)} ORDER BY id"
        with self._transaction() as db:
            rows = db.execute(sql, params).fetchall()
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
            _fetch(db, tune_id)  # NotFoundError for a deleted one too
            db.execute(
                "UPDATE tunes SET name = COALESCE(?, name), abc = COALESCE(?, abc),"
                " starred = COALESCE(?, starred), updated = ? WHERE id = ?",
                (name, abc, flag, _now(), tune_id),
            )
            return _fetch(db, tune_id)

    def delete(self, tune_id: int) -> None:
        """Delete a saved tune, restorable for UNDO_SECONDS; NotFoundError if there is none.
        Tunes deleted longer ago are removed for good here."""
        now = datetime.now(timezone.utc)
        with self._transaction() as db:
            deleted = db.execute(
                "UPDATE tunes SET deleted = ? WHERE id = ? AND deleted IS NULL",
                (now.isoformat(timespec="seconds"), tune_id),
            ).rowcount
            cutoff = (now - timedelta(seconds=UNDO_SECONDS)).isoformat(timespec="seconds")
            db.execute("DELETE FROM tunes WHERE deleted IS NOT NULL AND deleted < ?", (cutoff,))
        if not deleted:
            raise NotFoundError(f"no saved tune with id {tune_id}")

    def restore(self, tune_id: int) -> SavedTune:
        """Undo a delete made less than UNDO_SECONDS ago; NotFoundError otherwise."""
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=UNDO_SECONDS)
        with self._transaction() as db:
            db.execute(
                "UPDATE tunes SET deleted = NULL WHERE id = ? AND deleted >= ?",
                (tune_id, cutoff.isoformat(timespec="seconds")),
            )
            return _fetch(db, tune_id)

    def export(self, starred_only: bool = False) -> str:
        """The saved tunes as one ABC tunebook, titled with their names, X: numbered 1..N."""
        tunes = self.list(starred_only)
        return tunebook_from_texts([titled(tune.abc, tune.name) for tune in tunes])
