"""Error classes: every user-facing failure is one line that names the file and the problem."""


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


class RenderError(TunegenError):
    """A tune cannot be rendered to one output format (MIDI, WAV or SVG)."""


class WorkerError(RenderError):
    """Work on one item crashed its worker process, ran past its time limit or failed there."""


class NotFoundError(TunegenError):
    """A model, saved tune or rendered file with that name or id does not exist."""


class BusyError(TunegenError):
    """Every slot for composing and rendering jobs is taken; try again shortly."""
