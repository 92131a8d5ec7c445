"""Crash-safe writes and the one rule for overwriting; no ML imports, so music/ may use it too."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from tunegen.errors import Setting, SettingError, UsageError

Writer = Callable[[Path], None]


def refuse_overwrite(paths: Path | Iterable[Path], force: bool) -> None:
    """UsageError naming the first of `paths` that exists, unless `force`: nothing written before
    is replaced without `force`."""
    if force:
        return
    for path in [paths] if isinstance(paths, Path) else paths:
        if path.exists() or path.is_symlink():
            raise SettingError(  # the CLI spells the settings as --force and --out
                f"{path}: already exists; use ",
                Setting("force"),
                " to overwrite it or ",
                Setting("out"),
                " elsewhere",
            )


def ensure_folder(folder: Path) -> None:
    """Make `folder` (and its parents); a folder that cannot be made is a one-line UsageError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or err
        raise UsageError(f"{folder}: cannot make the output folder ({reason})") from None


def temporary_beside(path: Path) -> Path:
    """A new empty file with a unique name in `path`'s folder (so the final rename never crosses
    filesystems): every rank of a DDP run may write the same file at once, each renaming its own.

    Made with mode 0o666 less the umask, as open() would make `path` itself (mkstemp's 0o600
    would leave every renamed file readable by its owner only).
    """
    try:  # the file's own folder may be made, never its parents: a folder that was removed on
        # purpose (a stopping server's work folder) is not brought back by a late write
        path.parent.mkdir(exist_ok=True)
    except OSError as err:
        raise UsageError(f"{path}: cannot write there ({err.strerror or err})") from None
    while True:
        partial = path.parent / f".{path.name}.{secrets.token_hex(4)}.partial"
        try:
            handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as err:
            raise UsageError(f"{path}: cannot write there ({err.strerror or err})") from None
        os.close(handle)
        return partial


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, content: bytes | str | Writer, sync: bool = False) -> Path:
    """Write `path` under a temporary name in the same folder, then rename it into place.

    `content` is bytes, UTF-8 text, or a function that writes the temporary path it is given.
    A kill at any moment leaves either the old file or the new one, never half of one, and no
    temporary file behind. With `sync` the data (and the folder entry) reach the disk before and
    after the rename, so a power cut cannot leave an empty file either: checkpoints use it.
    """
    partial = temporary_beside(path)
    try:
        if isinstance(content, bytes):
            partial.write_bytes(content)
        elif isinstance(content, str):
            partial.write_text(content, encoding="utf-8")
        else:
            content(partial)
        if sync:
            _fsync(partial)
        os.replace(partial, path)
        if sync:
            _fsync(path.parent, directory=True)
    except OSError as err:
        raise UsageError(f"{path}: cannot write it ({err.strerror or err})") from None
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_new_file(path: Path, text: str, force: bool) -> None:
    """Write `text` atomically; an existing file is only replaced with --force."""
    refuse_overwrite(path, force)
    write_atomically(path, text)
