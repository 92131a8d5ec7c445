"""Error classes: every user-facing failure is one line that names the file and the problem."""

from __future__ import annotations

from collections.abc import Callable


class TunegenError(Exception):
    """Base class of errors that the CLI reports as one line with exit code 2."""


class CorpusError(TunegenError):
    """A corpus path, name or file cannot be used."""


class VocabularyError(TunegenError):
    """Text contains a symbol the model never saw."""


class CheckpointError(TunegenError):
    """A checkpoint file is missing, unreadable or not a tunegen checkpoint."""


class UsageError(TunegenError):
    """An option or combination of options is invalid."""


class Setting(str):
    """A setting's library name (a TrainConfig field, a model-shape key) inside a SettingError."""


class SettingError(UsageError):
    """A setting has a bad value. The message is built from text and Setting parts: str() names
    each setting as the library does (max_minutes), `spelled` as its caller does (the CLI: its
    flag, --max-minutes), so library code never quotes a command line."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts
        super().__init__("".join(parts))

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings the message names, in order."""
        return tuple(str(part) for part in self.parts if isinstance(part, Setting))

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with each setting's name replaced by `spell(name)`."""
        return "".join(spell(str(p)) if isinstance(p, Setting) else p for p in self.parts)


class CorpusSizeError(SettingError, CorpusError):
    """A corpus too small for the chosen settings (batch size, window length): a CorpusError
    whose message names those settings."""


class RenderError(TunegenError):
    """A tune cannot be rendered to one output format (MIDI, WAV or SVG)."""


class WorkerError(RenderError):
    """Work on one item crashed its worker process, ran past its time limit or failed there."""


class NotFoundError(TunegenError):
    """A model, saved tune or rendered file with that name or id does not exist."""


class BusyError(TunegenError):
    """Every slot for composing and rendering jobs is taken; try again shortly."""
