"""tunegen: learn music from ABC and MIDI with neural sequence models and compose new tunes."""

__version__ = "0.1.0"
